"""The cloud's use cases: each owns its transaction and is what an adapter (an HTTP route, the CLI, the
ingest worker) calls. The domain below holds the rules; the adapters above only translate."""
