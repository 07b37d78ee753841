"""Server configuration: command-line flags over AGENTSESSIONS_* variables over a TOML file."""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "AGENTSESSIONS_"


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """An OpenAI-compatible endpoint that agents reach as `{name}/{model}`."""

    base_url: str
    api_key_env: str = ""  # the variable holding the key; the key itself is never configured


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 50051
    db: str = "./agentsessions.db"
    # Page cache of each SQLite connection (one writer, two readers), in KiB.
    sqlite_cache_kib: int = 2000
    # Seconds in-flight calls get to finish on SIGTERM before they are cancelled.
    grace_seconds: float = 10.0
    max_message_bytes: int = 4 * 1024 * 1024
    # Server processes sharing the port (SO_REUSEPORT) and the database; 1 serves in-process.
    workers: int = 1
    # A run's lease on its session: renewed while the run lives; a lease not renewed for this
    # long means its process died, and the run is finished as interrupted.
    lease_seconds: float = 10.0
    # How long a finished run's events stay readable by StreamRunEvents.
    event_retention_seconds: float = 3600.0
    # A pause between the echo model's words, to watch a reply stream or try cancelling it.
    echo_word_delay_seconds: float = 0.0
    log_level: str = "INFO"
    # Creates `agents/default` (model `echo`) at start-up so a new server answers at once.
    create_default_agent: bool = True
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)


_SCALARS = {f.name: f for f in fields(Config) if f.name != "providers"}


def _coerce(name: str, value: Any) -> Any:
    kind = type(getattr(Config(), name))
    if kind is bool and isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return kind(value)


def load(
    args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Builds the configuration; later sources win: TOML file, environment, flags."""
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in vars(args or argparse.Namespace()).items() if v is not None}
    config_path = flags.pop("config", None) or environ.get(f"{ENV_PREFIX}CONFIG")
    values: dict[str, Any] = {}
    providers: dict[str, ProviderConfig] = {}
    if config_path:
        data = tomllib.loads(Path(config_path).read_text())
        for name, spec in data.pop("providers", {}).items():
            providers[name] = ProviderConfig(**spec)
        values.update({k: v for k, v in data.items() if k in _SCALARS})
        unknown = set(data) - set(_SCALARS)
        if unknown:
            raise ValueError(f"unknown settings in {config_path}: {', '.join(sorted(unknown))}")
    for name in _SCALARS:
        env_value = environ.get(f"{ENV_PREFIX}{name.upper()}")
        if env_value is not None:
            values[name] = env_value
    values.update({k: v for k, v in flags.items() if k in _SCALARS})
    config = Config(**{k: _coerce(k, v) for k, v in values.items()})
    return replace(config, providers=providers)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `serve` flags. Defaults are None so that unset flags do not hide other sources."""
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help="port to listen on; 0 picks a free one (default 50051)"
    )
    parser.add_argument("--db", help="SQLite database file (default ./agentsessions.db)")
    parser.add_argument("--config", help="TOML configuration file")
    parser.add_argument(
        "--workers", type=int, help="server processes sharing the port and database (default 1)"
    )
    parser.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING or ERROR")
