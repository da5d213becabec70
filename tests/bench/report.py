"""A benchmark figure, and how the set of them is written to JSON and printed."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Figure:
    """One measured path next to the floor the same machine gives in the same run."""

    name: str
    unit: str  # e.g. "µs/op" or "msg/s"
    value: float
    floor_name: str
    floor: float
    higher_is_better: bool = False

    @property
    def ratio(self) -> float:
        """How many times slower than the floor (1.0 = at the floor)."""
        return self.floor / self.value if self.higher_is_better else self.value / self.floor


def per_op_us(fn: Callable[[], object], repeat: int) -> float:
    """Best of three runs of `repeat` calls, in microseconds per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - start) / repeat)
    return best * 1e6


def write_and_print(figures: list[Figure], path: Path) -> None:
    doc = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "figures": [{**asdict(f), "ratio": round(f.ratio, 2)} for f in figures],
    }
    path.write_text(json.dumps(doc, indent=2))
    table = Table(title=f"vendfleet benchmarks (written to {path})")
    for column in ("path", "value", "floor", "floor value", "× floor"):
        table.add_column(column, justify="right" if "value" in column or "×" in column else "left")
    for f in figures:
        table.add_row(
            f.name,
            f"{f.value:,.1f} {f.unit}",
            f.floor_name,
            f"{f.floor:,.1f} {f.unit}",
            f"{f.ratio:.2f}",
        )
    Console().print(table)
