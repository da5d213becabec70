"""Business rules, one module per concept, no HTTP and no MQTT in them."""
