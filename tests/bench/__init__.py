"""Benchmarks (`make bench`): each module's `run()` measures one path against its physical floor."""
