"""Pagers: iterate over every item of a List call, fetching the next page as needed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Generic, Protocol, TypeVar


class _PagedResponse(Protocol):
    @property
    def next_page_token(self) -> str: ...


ResponseT = TypeVar("ResponseT", bound=_PagedResponse)
ItemT = TypeVar("ItemT")


class AsyncPager(Generic[ResponseT, ItemT]):
    """The pages of an asyncio List call; the first page is already fetched.

    `async for item in pager` yields every item of every page; `pager.pages`
    yields the responses themselves.

    Example:
        >>> async for agent in await client.list_agents():  # doctest: +SKIP
        ...     print(agent.name)
    """

    def __init__(
        self,
        first: ResponseT,
        fetch: Callable[[str], Awaitable[ResponseT]],
        items: Callable[[ResponseT], Sequence[ItemT]],
    ) -> None:
        self._first = first
        self._fetch = fetch
        self._items = items

    @property
    def first_page(self) -> ResponseT:
        """The response of the first request."""
        return self._first

    @property
    async def pages(self) -> AsyncIterator[ResponseT]:
        """Every page's response in order, fetching each next page on demand."""
        page = self._first
        yield page
        while page.next_page_token:
            page = await self._fetch(page.next_page_token)
            yield page

    def __aiter__(self) -> AsyncIterator[ItemT]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ItemT]:
        async for page in self.pages:
            for item in self._items(page):
                yield item

    async def collect(self, limit: int | None = None) -> list[ItemT]:
        """All items (or the first `limit` of them) as a list."""
        collected: list[ItemT] = []
        if limit is not None and limit <= 0:
            return collected
        async for item in self:
            collected.append(item)
            if limit is not None and len(collected) >= limit:
                break
        return collected

    def __repr__(self) -> str:
        return f"{type(self).__name__}<first page of {len(self._items(self._first))} items>"


class Pager(Generic[ResponseT, ItemT]):
    """The pages of a blocking List call; the first page is already fetched.

    `for item in pager` yields every item of every page; `pager.pages` yields
    the responses themselves.
    """

    def __init__(
        self,
        first: ResponseT,
        fetch: Callable[[str], ResponseT],
        items: Callable[[ResponseT], Sequence[ItemT]],
    ) -> None:
        self._first = first
        self._fetch = fetch
        self._items = items

    @property
    def first_page(self) -> ResponseT:
        """The response of the first request."""
        return self._first

    @property
    def pages(self) -> Iterator[ResponseT]:
        """Every page's response in order, fetching each next page on demand."""
        page = self._first
        yield page
        while page.next_page_token:
            page = self._fetch(page.next_page_token)
            yield page

    def __iter__(self) -> Iterator[ItemT]:
        for page in self.pages:
            yield from self._items(page)

    def collect(self, limit: int | None = None) -> list[ItemT]:
        """All items (or the first `limit` of them) as a list."""
        collected: list[ItemT] = []
        if limit is not None and limit <= 0:
            return collected
        for item in self:
            collected.append(item)
            if limit is not None and len(collected) >= limit:
                break
        return collected

    def __repr__(self) -> str:
        return f"{type(self).__name__}<first page of {len(self._items(self._first))} items>"
