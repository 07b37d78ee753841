"""Stores keep agents, sessions, items and runs. `Store` is the interface; SQLite is the default."""

from .base import SessionFilter, SessionOrder, SessionQuery, Store

__all__ = ["SessionFilter", "SessionOrder", "SessionQuery", "Store"]
