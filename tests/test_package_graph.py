"""The package graph: the parts meet only in `protocols`; the CLI and the demo compose them at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("protocols", "gateway", "cloud", "firmware_sim")
# The demo and the chaos day drive a whole fleet (cloud, gateways, simulators): they compose the parts,
# as vendfleet_cli.py does.
COMPOSERS = ("firmware_sim/demo",)


def imported_parts(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found |= {n.split(".")[0] for n in names} & set(PARTS)
    return found


@pytest.mark.parametrize("part", PARTS)
def test_each_part_imports_only_itself_and_protocols(part: str) -> None:
    allowed = {part, "protocols"} if part != "protocols" else {"protocols"}
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_parts(path) - allowed)
        for path in (ROOT / part).rglob("*.py")
        if not str(path.relative_to(ROOT)).startswith(COMPOSERS)
    }
    assert {file: parts for file, parts in wrong.items() if parts} == {}
