"""The package graph: the parts meet only in `protocols`; the CLI and the demo compose them at the top.

The contracts live in pyproject.toml ([tool.importlinter]) and `make lint` checks them; this runs the
same check so the suite fails too, and proves the check can fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_parts_meet_only_in_protocols() -> None:
    done = lint_imports()
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_gateway_importing_the_cloud_breaks_a_contract() -> None:
    stray = ROOT / "gateway" / "_stray_import.py"
    stray.write_text("import cloud.settings\n")
    try:
        done = lint_imports()
    finally:
        stray.unlink()
    assert done.returncode != 0
    assert "gateway is not allowed to import cloud" in done.stdout
