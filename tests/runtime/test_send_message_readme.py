"""The README's send-message example runs as written against a real server."""

from __future__ import annotations

from pathlib import Path

from readme_examples import run_python_example


async def test_streams_a_reply_from_the_default_agent(address: str, tmp_path: Path) -> None:
    lines = (await run_python_example("send-message", address, tmp_path)).splitlines()
    assert lines[0] == "Hello, streaming world"
    assert "requests: 1" in lines and "run_count: 1" in lines and "item_count: 2" in lines
