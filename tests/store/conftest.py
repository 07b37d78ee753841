"""The `store` fixture: every contract test runs once per Store backend.

A backend joins the suite by adding a factory to STORE_FACTORIES; each
factory returns an unopened store over fresh, empty storage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from agentsessions.server.store import SQLiteStore, Store


def _sqlite(tmp_path: Path) -> Store:
    return SQLiteStore(str(tmp_path / "store.db"))


STORE_FACTORIES: dict[str, Callable[[Path], Store]] = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(STORE_FACTORIES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = STORE_FACTORIES[request.param](tmp_path)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
