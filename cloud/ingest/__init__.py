"""MQTT ingest workers: subscribe (shared), store each event once, answer with evack."""
