"""`python -m gateway`: the gateway service alone, as a cabinet's board runs it.

The `vendfleet` command is for people: typer, click and rich, and the other parts' subcommands. A board
runs one service for years on little memory (#13: ≤ 50 MB), so its entry point imports only what
the service needs and takes the same options as `vendfleet gateway run`.
"""

from __future__ import annotations

import sys

# structlog formats exceptions with rich (and pygments) and supports greenlet when they can be imported.
# The gateway logs JSON lines with plain tracebacks (protocols.runtime.logs): marked absent, they
# cost nothing (about 7 MB resident otherwise).
for _absent in ("rich", "pygments", "greenlet"):
    sys.modules.setdefault(_absent, None)  # type: ignore[arg-type]

import argparse  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__.splitlines()[0])
    for name in ("cabinet-id", "serial", "mqtt", "username", "password"):
        parser.add_argument(f"--{name}")
    for name in ("data-dir", "cloud-key", "tls-ca", "tls-cert", "tls-key", "planogram"):
        parser.add_argument(f"--{name}", type=Path)
    parser.add_argument("--metrics-port", type=int)
    parser.add_argument("--config", type=Path, default=os.environ.get("VF_CONFIG"), help="TOML settings file")
    parser.add_argument("--log-level", default="INFO")
    options = vars(parser.parse_args(argv))
    from gateway.run import serve  # after the absent modules are marked

    serve(options.pop("config"), options.pop("log_level"), **options)


if __name__ == "__main__":
    main()
