"""Simulated cabinet hardware (lock, scale and climate boards) speaking protocols/SERIAL.md."""
