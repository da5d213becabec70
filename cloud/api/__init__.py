"""HTTP: /api/v1 routers, dependencies, and the one place errors become HTTP answers."""
