"""The README's quick-start example runs as written against a real server."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def quickstart_example() -> str:
    text = README.read_text()
    start = text.index("<!-- section:quickstart")
    end = text.index("<!-- /section:quickstart -->", start)
    (code,) = FENCE.findall(text[start:end])
    return str(code)


async def test_quickstart_example(address: str, tmp_path: Path) -> None:
    code = quickstart_example()
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
    assert lines[0] == "1 user Hello"
    assert "item_count: 1" in lines and "message_count: 1" in lines
