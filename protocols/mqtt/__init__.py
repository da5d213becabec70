"""MQTT contract between gateways and the cloud: topics and payload schemas."""
