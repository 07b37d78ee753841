"""The README's send-message example runs as written against a real server."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def example() -> str:
    text = README.read_text()
    start = text.index("<!-- section:send-message -->")
    end = text.index("<!-- /section:send-message -->", start)
    (code,) = FENCE.findall(text[start:end])
    return str(code)


async def test_streams_a_reply_from_the_default_agent(address: str, tmp_path: Path) -> None:
    code = example()
    assert "127.0.0.1:50051" in code
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code.replace("127.0.0.1:50051", address),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0] == "Hello, streaming world"
    assert "requests: 1" in lines and "run_count: 1" in lines and "item_count: 2" in lines
