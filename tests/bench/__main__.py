"""Run every benchmark, write bench-results.json, print a table: `python -m tests.bench`."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import tests.bench
from tests.bench.report import Figure, write_and_print


def main() -> int:
    figures: list[Figure] = []
    names = sorted(m.name for m in pkgutil.iter_modules(tests.bench.__path__) if m.name.startswith("bench_"))
    for name in names:
        print(f"running {name} …", file=sys.stderr, flush=True)
        module = importlib.import_module(f"tests.bench.{name}")
        figures += module.run()
    write_and_print(figures, Path("bench-results.json"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
