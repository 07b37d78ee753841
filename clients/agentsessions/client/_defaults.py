"""One table of per-method defaults: the deadline of each RPC, whether it is retried, and
how a broken event stream is resumed."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class _Default(enum.Enum):
    """Marks an argument left out, so None can mean "no deadline" or "no retry"."""

    DEFAULT = "DEFAULT"


DEFAULT = _Default.DEFAULT
"""Use the method's entry in METHOD_DEFAULTS."""

TimeoutArg = float | None | _Default


@dataclass(frozen=True, slots=True)
class Retry:
    """Retry with exponential backoff, only on UNAVAILABLE, within the call's deadline.

    Attributes:
        initial: the first wait in seconds.
        maximum: the longest wait between attempts.
        multiplier: how much each wait grows.
        max_attempts: most attempts in all, the first one included.
    """

    initial: float = 0.1
    maximum: float = 2.0
    multiplier: float = 2.0
    max_attempts: int = 20

    def delays(self) -> list[float]:
        """The waits before the second, third, … attempt."""
        delays, delay = [], self.initial
        for _ in range(self.max_attempts - 1):
            delays.append(delay)
            delay = min(delay * self.multiplier, self.maximum)
        return delays


NO_RETRY: Retry | None = None
DEFAULT_RETRY = Retry()
RetryArg = Retry | None | _Default


# A run's event stream that breaks with UNAVAILABLE (a server restart, a dropped
# connection) is followed again from the last event received: waits of 0.2 s, growing
# to 2 s, for at most 10 attempts in a row that bring no new event (about 15 s of a
# server being away); every event that arrives starts the count again.
DEFAULT_RESUME = Retry(initial=0.2, maximum=2.0, multiplier=2.0, max_attempts=10)


@dataclass(frozen=True, slots=True)
class MethodDefaults:
    """A method's default deadline (seconds, covering all attempts), retry and resume policy.

    Attributes:
        timeout: the deadline of the whole call, retries and resumptions included.
        retry: how a unary call is repeated on UNAVAILABLE; None: never.
        resume: how a streaming call that broke with UNAVAILABLE is resumed from the
            last event it received, without a duplicate or a gap; None: never.
        etag_field: the request's etag (`agent.etag`); a request that sets it is not
            retried unless the caller passes `retry`.
    """

    timeout: float
    retry: Retry | None
    resume: Retry | None = None
    etag_field: str = ""

    def retry_for(self, request: object) -> Retry | None:
        """The retry of a call that left `retry` out: None when the request has an etag."""
        if self.etag_field:
            value: object = request
            for part in self.etag_field.split("."):
                value = getattr(value, part)
            if value:
                return NO_RETRY
        return self.retry


_READ = MethodDefaults(timeout=30.0, retry=DEFAULT_RETRY)
# Creates and appends carry a request_id the client fills in once per call, so a retry
# cannot store twice.
_IDEMPOTENT_WRITE = MethodDefaults(timeout=30.0, retry=DEFAULT_RETRY)
# A repeated delete would report NOT_FOUND, a repeated pop would change the history
# twice, and a repeated clear would report 0 items removed: none of them is retried
# behind the caller's back.
_ONCE = MethodDefaults(timeout=30.0, retry=NO_RETRY)


def _update(etag_field: str) -> MethodDefaults:
    """An update sets the same fields again when repeated, unless it carries an etag: the
    first attempt, applied before its reply was lost, changed the etag, so a repeat
    would fail with ABORTED (ETAG_MISMATCH) though the update succeeded. As in
    google-cloud-python's generated clients, such a call is retried only when the
    caller passes `retry`."""
    return MethodDefaults(timeout=30.0, retry=DEFAULT_RETRY, etag_field=etag_field)


METHOD_DEFAULTS: dict[str, MethodDefaults] = {
    "CreateAgent": _IDEMPOTENT_WRITE,
    "GetAgent": _READ,
    "ListAgents": _READ,
    "UpdateAgent": _update("agent.etag"),
    "DeleteAgent": _ONCE,
    "CreateSession": _IDEMPOTENT_WRITE,
    "GetSession": _READ,
    "ListSessions": _READ,
    "UpdateSession": _update("session.etag"),
    "DeleteSession": _ONCE,
    # All or nothing, but a repeat after a lost reply would fail with NOT_FOUND.
    "BatchDeleteSessions": _ONCE,
    # A run may take many model turns. The call is not repeated as a whole; a stream that
    # breaks is resumed instead: with StreamRunEvents after the last event received once
    # the run has started, else with SendMessage again under the same request_id, which
    # joins the run the first attempt may have started rather than starting a second one.
    "SendMessage": MethodDefaults(timeout=600.0, retry=NO_RETRY, resume=DEFAULT_RESUME),
    # Replays a run's stored events and follows it: resumed after the last event received.
    "StreamRunEvents": MethodDefaults(timeout=600.0, retry=NO_RETRY, resume=DEFAULT_RESUME),
    # Idempotent: cancelling a run that has ended returns it unchanged. It waits for the
    # run to end, an AFTER_TURN cancel for the current model turn.
    "CancelRun": MethodDefaults(timeout=120.0, retry=DEFAULT_RETRY),
    # A retry carries the same request_id: decisions it recorded are not refused as repeats.
    "ResolveApprovals": _IDEMPOTENT_WRITE,
    "ListItems": _READ,
    "AddItems": _IDEMPOTENT_WRITE,
    "PopItem": _ONCE,
    "ClearSession": _ONCE,
    # The model may take a while to write a summary; a repeat would compact again.
    "CompactSession": MethodDefaults(timeout=120.0, retry=NO_RETRY),
    "GetRun": _READ,
    "ListRuns": _READ,
}
