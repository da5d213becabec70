from firmware_sim.cli import app

app()
