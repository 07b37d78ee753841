"""Fixtures for the store contract: every test runs once per Store backend.

A backend joins the suite by adding a factory to STORE_FACTORIES; a factory
returns an unopened store over the storage of one test, the same storage
each time it is called with the same directory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from agentsessions.server.store import SQLiteStore, Store


def _sqlite(tmp_path: Path) -> Store:
    return SQLiteStore(str(tmp_path / "store.db"))


STORE_FACTORIES: dict[str, Callable[[Path], Store]] = {"sqlite": _sqlite}

Reopen = Callable[[], Awaitable[Store]]


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def reopen(store_kind: str, tmp_path: Path) -> AsyncIterator[Reopen]:
    """Opens another store over the same storage; each is closed after the test."""
    opened: list[Store] = []

    async def open_store() -> Store:
        new = STORE_FACTORIES[store_kind](tmp_path)
        await new.open()
        opened.append(new)
        return new

    yield open_store
    for each in reversed(opened):
        await each.close()


@pytest.fixture
async def store(reopen: Reopen) -> Store:
    return await reopen()
