"""`make breaking` and `make lint-proto` catch unsafe changes to a copy of the contract."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AGENT_PROTO = Path("protos/agentsessions/v1/agent.proto")


def make(target: str, contract_root: Path) -> subprocess.CompletedProcess[str]:
    """Runs a Makefile target of the repository on the contract copy in `contract_root`."""
    # A make that runs pytest passes its own flags down; this make must start clean.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    return subprocess.run(
        [
            "make",
            "-s",
            "--no-print-directory",
            "-C",
            str(ROOT),
            target,
            f"CONTRACT_ROOT={contract_root}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.fixture
def contract(tmp_path: Path) -> Path:
    """A copy of everything buf reads: buf.yaml, protos/ and the pinned Google protos."""
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    shutil.copytree(ROOT / "third_party", tmp_path / "third_party")
    return tmp_path


def edit(path: Path, pattern: str, replacement: str) -> None:
    text, count = re.subn(pattern, replacement, path.read_text())
    assert count == 1, f"{pattern!r} matched {count} times in {path}"
    path.write_text(text)


def test_the_unchanged_contract_is_not_breaking(contract: Path) -> None:
    result = make("breaking", contract)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_renumbered_field_is_a_breaking_change(contract: Path) -> None:
    edit(
        contract / AGENT_PROTO,
        r"string display_name = 2 \[",
        "string display_name = 99 [",
    )

    result = make("breaking", contract)

    assert result.returncode != 0
    assert (
        'Previously present field "2" with name "display_name" on message "Agent" was deleted'
        in result.stdout + result.stderr
    )


def test_a_changed_field_type_is_a_breaking_change(contract: Path) -> None:
    edit(
        contract / AGENT_PROTO,
        r"repeated string tools = 6 \[",
        "repeated bytes tools = 6 [",
    )

    result = make("breaking", contract)

    assert result.returncode != 0
    assert (
        'Field "6" with name "tools" on message "Agent" changed type'
        in result.stdout + result.stderr
    )


def test_lint_rejects_a_field_name_that_is_not_lower_snake_case(contract: Path) -> None:
    assert make("lint-proto", contract).returncode == 0
    edit(contract / AGENT_PROTO, r"string instructions = 3 \[", "string systemPrompt = 3 [")

    result = make("lint-proto", contract)

    assert result.returncode != 0
    assert 'Field name "systemPrompt" should be lower_snake_case' in result.stdout + result.stderr
