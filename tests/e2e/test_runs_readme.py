"""The README's runs example runs as written: a dropped stream, resumed from its position."""

from __future__ import annotations

import ast
from pathlib import Path

from readme_examples import run_python_example


async def test_resumes_a_run_after_its_stream_is_dropped(address: str, tmp_path: Path) -> None:
    printed = (await run_python_example("runs", address, tmp_path)).strip()
    kinds = ast.literal_eval(printed)
    assert kinds[-1] == "run_completed"
    assert kinds.count("run_completed") == 1
    assert "run_started" not in kinds  # the resumed stream starts after the first event
