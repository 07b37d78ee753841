"""Requests whose bytes do not decode: INVALID_ARGUMENT, and a log line per peer per minute.

gRPC calls a method's `request_deserializer` before the handler, and an exception it raises
reaches the caller as UNKNOWN with the exception's text, with a traceback logged each time.
`guard` wraps the deserializer so that it returns an `Undecodable` marker instead; the
handler wrapper (interceptors/errors.py) sees the marker and answers INVALID_ARGUMENT
(reason MALFORMED_REQUEST) with a short message, through the same error path as every
other error.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..domain.errors import InvalidArgument

log = logging.getLogger("agentsessions.requests")

LOG_INTERVAL_SECONDS = 60.0
# Peers remembered for the interval; past this many the oldest are forgotten.
PEERS_MAX = 1024
# Lines per interval from all peers together, however many addresses a flood comes from.
LINES_MAX = 100

Deserializer = Callable[[bytes], Any]


@dataclass(frozen=True, slots=True)
class Undecodable:
    """What the guarded deserializer returns for bytes it cannot read."""

    message: str
    size: int
    error: str


def _message_name(deserializer: Deserializer) -> str:
    # Generated code passes `SomeRequest.FromString`, bound to the message class.
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
    name = getattr(descriptor, "full_name", None)
    return name if isinstance(name, str) else "request"


def guard(deserializer: Deserializer | None) -> Deserializer | None:
    """`deserializer`, returning Undecodable where it would raise."""
    if deserializer is None:
        return None
    message = _message_name(deserializer)

    def guarded(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception as exc:
            return Undecodable(message, len(raw), type(exc).__name__)

    return guarded


def malformed(request: Undecodable) -> InvalidArgument:
    return InvalidArgument(
        f"the request's bytes are not a valid {request.message}", reason="MALFORMED_REQUEST"
    )


def peer_host(peer: str) -> str:
    """`ipv4:10.0.0.1:5123` → `ipv4:10.0.0.1`: a caller opening new connections is one peer."""
    kind, _, address = peer.partition(":")
    if kind in ("ipv4", "ipv6") and ":" in address:
        return f"{kind}:{address.rsplit(':', 1)[0]}"
    return peer


class RateLimitedLog:
    """Says when to log an event: at most once per peer per interval, and at most
    `lines_max` times per interval in all; counts what it held back from each peer."""

    def __init__(
        self,
        interval: float = LOG_INTERVAL_SECONDS,
        peers_max: int = PEERS_MAX,
        lines_max: int = LINES_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._peers_max = peers_max
        self._lines_max = lines_max
        self._clock = clock
        # peer -> (when it was last logged, events held back since), oldest first
        self._peers: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._window_start = -interval
        self._window_lines = 0

    def allow(self, peer: str) -> int | None:
        """None to stay quiet; otherwise log now: this many were held back before."""
        now = self._clock()
        seen = self._peers.get(peer)
        if now - self._window_start >= self._interval:
            self._window_start, self._window_lines = now, 0
        recent = seen is not None and now - seen[0] < self._interval
        if recent or self._window_lines >= self._lines_max:
            since, held = seen if seen is not None else (now, 0)
            self._remember(peer, (since, held + 1))
            return None
        self._window_lines += 1
        self._remember(peer, (now, 0))
        return seen[1] if seen is not None else 0

    def _remember(self, peer: str, entry: tuple[float, int]) -> None:
        self._peers[peer] = entry
        self._peers.move_to_end(peer)
        while len(self._peers) > self._peers_max:
            self._peers.popitem(last=False)


_undecodable_log = RateLimitedLog()


def report(request: Undecodable, method: str, peer: str) -> InvalidArgument:
    """The error to answer with; logged once per peer per interval."""
    host = peer_host(peer)
    held_back = _undecodable_log.allow(host)
    if held_back is not None:
        log.warning(
            "undecodable request",
            extra={
                "method": method,
                "peer": host,
                "bytes": request.size,
                "error": request.error,
                "not_logged_before": held_back,
            },
        )
    return malformed(request)
