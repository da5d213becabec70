"""The README runs: its ```sh blocks, in order, in one bash session from the repository root, literally.

A walkthrough that rots fails here. Every fenced block says what it is: `sh` (run here) or `text`
(a picture or an example output, never run). The blocks start their servers in the background and
stop them themselves; whatever is left is killed with the session's process group.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)

pytestmark = [pytest.mark.slow]


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text()) if lang == language]


def test_every_block_says_what_it_is() -> None:
    languages = {lang for lang, _ in FENCE.findall(README.read_text())}
    assert languages <= {"sh", "text"}, "fence every block as ```sh (run by this test) or ```text"
    assert blocks("sh"), "the README has no command to run"


@pytest.mark.timeout(300)  # a demo and a gateway start: slow on a loaded 2-core machine
def test_the_readme_commands_run(tmp_path: Path) -> None:
    script = "set -eo pipefail\n" + "\n".join(blocks("sh"))
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".venv" not in p)  # as a fresh shell has it
    process = subprocess.Popen(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=300)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # anything a block left running
        except ProcessLookupError:
            pass
    (tmp_path / "readme.log").write_text(output)
    assert process.returncode == 0, output[-6000:]
