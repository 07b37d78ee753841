"""Server configuration: command-line flags over AGENTSESSIONS_* variables over a TOML file."""

from __future__ import annotations

import argparse
import math
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
    # How long a tool call may wait for approval before its run is cancelled.
    approval_timeout_seconds: float = 86400.0
    # Runs a session may hold queued (SendMessage busy_policy ENQUEUE) besides the running one.
    max_queued_runs: int = 16
    # A pause between the echo model's words, to watch a reply stream or try cancelling it.
    echo_word_delay_seconds: float = 0.0
    log_level: str = "INFO"
    # Creates `agents/default` (model `echo`) at start-up so a new server answers at once.
    create_default_agent: bool = True
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)


_SCALARS = {f.name: f for f in fields(Config) if f.name != "providers"}
_DEFAULTS = Config()
_PROVIDER_KEYS = tuple(f.name for f in fields(ProviderConfig))
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
# The smallest value each number may take (the port's largest is 65535).
_MINIMUM: dict[str, float] = {
    "port": 0,
    "sqlite_cache_kib": 0,
    "grace_seconds": 0,
    "max_message_bytes": 1,
    "lease_seconds": 0.001,
    "event_retention_seconds": 0,
    "approval_timeout_seconds": 0.001,
    "max_queued_runs": 1,
    "echo_word_delay_seconds": 0,
}
_PORT_MAX = 65535


class ConfigError(ValueError):
    """A setting that cannot be used. The message is one line that starts with where the
    setting came from: the TOML file (and its key), the variable, or the flag."""


def _shown(value: Any, limit: int = 40) -> str:
    """A setting's value for a message: repr, cut, on one line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _coerce(name: str, value: Any, source: str) -> Any:
    """`value` as the type of the setting `name`; ConfigError names `source` otherwise."""
    kind = type(getattr(_DEFAULTS, name))
    if kind is bool:
        if isinstance(value, bool):
            return value
        word = value.strip().lower() if isinstance(value, str) else None
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ConfigError(f"{source}: must be true or false, not {_shown(value)}")
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: must be a string, not {_shown(value)}")
        if name == "log_level" and value.strip().upper() not in _LOG_LEVELS:
            raise ConfigError(
                f"{source}: must be one of {', '.join(_LOG_LEVELS)}, not {_shown(value)}"
            )
        if name == "db" and not value:
            raise ConfigError(f"{source}: must name a file")
        return value
    number: float
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        if kind is int:
            if isinstance(value, float):
                raise ValueError
            number = int(value)
        else:
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{source}: must be {what}, not {_shown(value)}") from None
    least = _MINIMUM.get(name)
    if least is not None and number < least:
        raise ConfigError(f"{source}: must be at least {least:g}, not {number:g}")
    if name == "port" and number > _PORT_MAX:
        raise ConfigError(f"{source}: must be 0 to {_PORT_MAX}, not {number:g}")
    return number


def _provider(path: str, name: Any, spec: Any) -> ProviderConfig:
    label = name if isinstance(name, str) and len(name) <= 40 else _shown(name)
    where = f"{path}: [providers.{label}]"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a table (base_url = ..., api_key_env = ...)")
    unknown = sorted(set(spec) - set(_PROVIDER_KEYS))
    if unknown:
        keys = ", ".join(_shown(k) for k in unknown)
        raise ConfigError(f"{where}: unknown key {keys}; the keys are {', '.join(_PROVIDER_KEYS)}")
    if "base_url" not in spec:
        raise ConfigError(f"{where}: base_url is required")
    for key, value in spec.items():
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key} must be a string, not {_shown(value)}")
    return ProviderConfig(**spec)


def _read_toml(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the configuration file is not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load(
    args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Builds the configuration; later sources win: TOML file, environment, flags.

    A value that cannot be used raises ConfigError, whose one-line message names the
    file and key, the variable, or the flag it came from.
    """
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in vars(args or argparse.Namespace()).items() if v is not None}
    config_path = flags.pop("config", None) or environ.get(f"{ENV_PREFIX}CONFIG")
    values: dict[str, tuple[Any, str]] = {}  # setting: (value, where it came from)
    providers: dict[str, ProviderConfig] = {}
    if config_path:
        data = _read_toml(config_path)
        tables = data.pop("providers", {})
        if not isinstance(tables, dict):
            raise ConfigError(f"{config_path}: providers must be tables [providers.NAME]")
        for name, spec in tables.items():
            providers[name] = _provider(config_path, name, spec)
        unknown = sorted(set(data) - set(_SCALARS))
        if unknown:
            names = ", ".join(_shown(k) for k in unknown)
            raise ConfigError(f"{config_path}: unknown settings: {names}")
        values.update({k: (v, f"{config_path}: {k}") for k, v in data.items()})
    for name in _SCALARS:
        variable = f"{ENV_PREFIX}{name.upper()}"
        env_value = environ.get(variable)
        if env_value is not None:
            values[name] = (env_value, variable)
    for name, value in flags.items():
        if name in _SCALARS:
            values[name] = (value, "--" + name.replace("_", "-"))
    config = Config(**{k: _coerce(k, v, source) for k, (v, source) in values.items()})
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
