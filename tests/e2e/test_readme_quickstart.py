"""The README's quick-start example runs as written against a real server."""

from __future__ import annotations

from pathlib import Path

from readme_examples import run_python_example


async def test_quickstart_example(address: str, tmp_path: Path) -> None:
    lines = (await run_python_example("quickstart", address, tmp_path)).splitlines()
    assert lines[0] == "1 user Hello"
    assert "item_count: 1" in lines and "message_count: 1" in lines
