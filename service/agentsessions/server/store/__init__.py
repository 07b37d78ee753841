"""Stores keep agents, sessions, items and runs. `Store` is the interface; SQLite is the default."""

from .base import SessionFilter, SessionOrder, SessionQuery, Store
from .sqlite import SQLiteStore

__all__ = ["SQLiteStore", "SessionFilter", "SessionOrder", "SessionQuery", "Store"]
