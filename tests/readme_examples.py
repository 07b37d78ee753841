"""Reads the README's code examples so tests can run them as written."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def blocks(section: str, language: str) -> list[str]:
    """The `language` code blocks between the section's `<!-- section:NAME -->` markers."""
    text = README.read_text()
    start = text.index(f"<!-- section:{section} -->")
    end = text.index(f"<!-- /section:{section} -->", start)
    return [code for lang, code in FENCE.findall(text[start:end]) if lang == language]


async def run_python_example(section: str, address: str, cwd: Path) -> str:
    """Runs the section's one Python example against `address`; returns what it printed."""
    (code,) = blocks(section, "python")
    assert "127.0.0.1:50051" in code
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code.replace("127.0.0.1:50051", address),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()
