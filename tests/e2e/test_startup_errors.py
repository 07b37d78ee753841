"""`agentsessions serve` refuses a bad configuration or database with one line on stderr
that names the file, variable or key, and exit code 2: no traceback, no listening line."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from agentsessions.server.store.sqlite import SQLiteStore

TIMEOUT = 30  # seconds; a refusal takes well under one, a server that starts runs on


def serve(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Runs `serve` to its end; pass `--port 0` where a refusal that fails to come would
    otherwise listen on the default port."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSESSIONS_")}
    environ.update(env or {})
    return subprocess.run(
        [*prefix, sys.executable, "-m", "agentsessions.server.cli", "serve", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[str], *culprits: str) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stderr.endswith("\n")
    (line,) = lines
    assert line.startswith("agentsessions serve: "), line
    for culprit in culprits:
        assert culprit in line, line
    assert result.returncode == 2, result
    assert "listening" not in result.stdout
    return line


def make_database(path: Path) -> None:
    async def create() -> None:
        store = SQLiteStore(str(path))
        await store.open()
        await store.close()

    asyncio.run(create())


def test_missing_directory_for_db(tmp_path: Path) -> None:
    db = tmp_path / "no-such-dir" / "sessions.db"
    line = assert_refused(
        serve(["--port", "0", "--db", str(db)], tmp_path), str(db), "does not exist"
    )
    assert str(tmp_path / "no-such-dir") in line
    assert not db.parent.exists()


def test_missing_directory_from_the_variable(tmp_path: Path) -> None:
    result = serve(["--port", "0"], tmp_path, {"AGENTSESSIONS_DB": "gone/sessions.db"})
    assert_refused(result, "gone/sessions.db", "does not exist")


def test_db_is_a_directory(tmp_path: Path) -> None:
    assert_refused(
        serve(["--port", "0", "--db", str(tmp_path)], tmp_path), str(tmp_path), "directory"
    )


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"this is not a database\n" * 400, id="text"),
        pytest.param(bytes(range(256)) * 40, id="bytes"),
    ],
)
def test_corrupt_database(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "corrupt.db"
    db.write_bytes(content)
    assert_refused(
        serve(["--port", "0", "--db", str(db)], tmp_path), str(db), "not a SQLite database"
    )
    assert db.read_bytes() == content


def test_corrupt_database_with_workers(tmp_path: Path) -> None:
    db = tmp_path / "corrupt.db"
    db.write_bytes(b"not a database" * 300)
    result = serve(["--port", "0", "--db", str(db), "--workers", "2"], tmp_path)
    assert_refused(result, str(db), "not a SQLite database")


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user can enter (pytest's tmp_path is private to its user)."""
    path = Path(tempfile.mkdtemp(prefix="agentsessions-ro-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for child in path.iterdir():
            child.unlink()
        path.rmdir()


def without_privileges() -> list[str]:
    """Permission bits do not bind root: as root the server runs with no capabilities
    (setpriv), so they bind it as they bind any other user."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv to drop capabilities")
    return [
        setpriv,
        "--bounding-set=-all",
        "--inh-caps=-all",
        "--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked",
    ]


def test_read_only_database_file(shared_dir: Path) -> None:
    db = shared_dir / "sessions.db"
    make_database(db)
    db.chmod(0o444)
    shared_dir.chmod(0o777)
    result = serve(["--port", "0", "--db", str(db)], shared_dir, prefix=without_privileges())
    assert_refused(result, str(db), "read-only", "write access to the file")


def test_read_only_directory(shared_dir: Path) -> None:
    db = shared_dir / "sessions.db"
    make_database(db)
    db.chmod(0o666)
    shared_dir.chmod(0o555)
    try:
        result = serve(["--port", "0", "--db", str(db)], shared_dir, prefix=without_privileges())
    finally:
        shared_dir.chmod(0o755)
    assert_refused(result, str(db), "read-only", f"write access to {shared_dir}")


def test_unknown_key_in_a_provider(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text(
        '[providers.local]\nbase_url = "http://127.0.0.1:8000/v1"\napi_kye_env = "KEY"\n'
    )
    result = serve(["--config", str(config), "--db", str(tmp_path / "s.db")], tmp_path)
    assert_refused(result, str(config), "[providers.local]", "'api_kye_env'")
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize(
    ("text", "culprits"),
    [
        ("port = \n", ["not valid TOML", "line 1"]),
        ('db = "a.db"\n[providers.x\n', ["not valid TOML", "line 2"]),
        ("prot = 50051\n", ["unknown settings: 'prot'"]),
        ('port = "fifty"\n', ["port: must be an integer, not 'fifty'"]),
        ("port = 70000\n", ["port: must be 0 to 65535"]),
        ("grace_seconds = -1\n", ["grace_seconds: must be at least 0"]),
        ("create_default_agent = 3\n", ["create_default_agent: must be true or false"]),
        ('[providers.local]\napi_key_env = "K"\n', ["[providers.local]: base_url is required"]),
        ("[providers.local]\nbase_url = 8000\n", ["[providers.local]: base_url must be a string"]),
        ('providers = "local"\n', ["providers must be tables"]),
        ("\xff\n", ["not UTF-8"]),
    ],
)
def test_bad_configuration_file(tmp_path: Path, text: str, culprits: list[str]) -> None:
    config = tmp_path / "server.toml"
    config.write_bytes(text.encode("latin-1"))
    port = [] if "port" in text else ["--port", "0"]  # a flag would hide the file's port
    result = serve(["--config", str(config), *port], tmp_path)
    assert_refused(result, str(config), *culprits)


def test_missing_configuration_file(tmp_path: Path) -> None:
    result = serve(["--port", "0"], tmp_path, {"AGENTSESSIONS_CONFIG": "missing.toml"})
    assert_refused(result, "missing.toml", "cannot read")


@pytest.mark.parametrize(
    ("variable", "value", "culprit"),
    [
        ("AGENTSESSIONS_PORT", "notaport", "must be an integer, not 'notaport'"),
        ("AGENTSESSIONS_PORT", "-1", "must be at least 0"),
        ("AGENTSESSIONS_GRACE_SECONDS", "soon", "must be a number"),
        ("AGENTSESSIONS_LEASE_SECONDS", "nan", "must be a number"),
        ("AGENTSESSIONS_MAX_MESSAGE_BYTES", "0", "must be at least 1"),
        ("AGENTSESSIONS_CREATE_DEFAULT_AGENT", "ture", "must be true or false"),
        ("AGENTSESSIONS_LOG_LEVEL", "LOUD", "must be one of DEBUG"),
        ("AGENTSESSIONS_WORKERS", "many", "must be an integer"),
    ],
)
def test_bad_variable(tmp_path: Path, variable: str, value: str, culprit: str) -> None:
    port = [] if variable == "AGENTSESSIONS_PORT" else ["--port", "0"]
    result = serve(["--db", str(tmp_path / "s.db"), *port], tmp_path, {variable: value})
    assert_refused(result, f"{variable}: {culprit}")


def test_flag_names_itself(tmp_path: Path) -> None:
    result = serve(
        ["--port", "0", "--log-level", "chatty", "--db", str(tmp_path / "s.db")], tmp_path
    )
    assert_refused(result, "--log-level: must be one of")


def test_workers_out_of_range_is_still_refused(tmp_path: Path) -> None:
    result = serve(["--port", "0", "--workers", "0", "--db", str(tmp_path / "s.db")], tmp_path)
    assert_refused(result, "workers must be 1 to")


def test_a_later_source_wins_over_a_bad_earlier_one(tmp_path: Path) -> None:
    """A flag overrides a bad variable: the variable is never read as a port."""
    result = serve(
        ["--port", "0", "--db", str(tmp_path / "nodir" / "s.db")],
        tmp_path,
        {"AGENTSESSIONS_PORT": "x"},
    )
    # --port 0 wins over the variable; the database is the culprit.
    assert_refused(result, "nodir", "does not exist")


def test_database_from_a_newer_version(tmp_path: Path) -> None:
    db = tmp_path / "newer.db"
    make_database(db)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_time) VALUES (999, 'x', 0)"
        )
    conn.close()
    result = serve(["--port", "0", "--db", str(db)], tmp_path)
    assert_refused(result, str(db), "schema version 999", "newer")
