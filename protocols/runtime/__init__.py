"""Process plumbing every vendfleet program shares: stopping on signals, JSON logs, the MQTT client
set-up. Not protocol code, and not sans-IO; it lives here because `protocols` is the one package the
gateway, the cloud and the simulator may all import (they must not import each other)."""
