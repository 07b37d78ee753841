"""The errors about agents, sessions and runs, one builder per reason.

Every layer that reports one of these (domain, store, runtime) calls its builder here, so
the same error carries the same reason and the same ErrorInfo metadata whichever layer
raised it: `name`, the resource the error is about, and the ids in that name
(`agent_id`, `session_id`, `run_id`). README, "Errors about resources", lists them.
"""

from __future__ import annotations

from .errors import Aborted, AlreadyExists, NotFound
from .models import SessionKey
from .names import agent_name, run_name, session_name


def agent_metadata(agent_id: str) -> dict[str, str]:
    return {"name": agent_name(agent_id), "agent_id": agent_id}


def session_metadata(key: SessionKey) -> dict[str, str]:
    return {
        "name": session_name(key),
        "agent_id": key.agent_id,
        "session_id": key.session_id,
    }


def run_metadata(key: SessionKey, run_id: str) -> dict[str, str]:
    return {
        "name": run_name(key, run_id),
        "agent_id": key.agent_id,
        "session_id": key.session_id,
        "run_id": run_id,
    }


def agent_not_found(agent_id: str) -> NotFound:
    metadata = agent_metadata(agent_id)
    return NotFound(
        f"{metadata['name']} does not exist", reason="AGENT_NOT_FOUND", metadata=metadata
    )


def session_not_found(key: SessionKey) -> NotFound:
    metadata = session_metadata(key)
    return NotFound(
        f"{metadata['name']} does not exist", reason="SESSION_NOT_FOUND", metadata=metadata
    )


def run_not_found(key: SessionKey, run_id: str) -> NotFound:
    metadata = run_metadata(key, run_id)
    return NotFound(f"{metadata['name']} does not exist", reason="RUN_NOT_FOUND", metadata=metadata)


def agent_already_exists(agent_id: str) -> AlreadyExists:
    metadata = agent_metadata(agent_id)
    return AlreadyExists(
        f"{metadata['name']} already exists", reason="AGENT_ALREADY_EXISTS", metadata=metadata
    )


def session_already_exists(key: SessionKey) -> AlreadyExists:
    metadata = session_metadata(key)
    return AlreadyExists(
        f"{metadata['name']} already exists", reason="SESSION_ALREADY_EXISTS", metadata=metadata
    )


def run_already_exists(key: SessionKey, run_id: str) -> AlreadyExists:
    metadata = run_metadata(key, run_id)
    return AlreadyExists(
        f"{metadata['name']} already exists", reason="RUN_ALREADY_EXISTS", metadata=metadata
    )


def etag_differs(expected: str | None, current: str) -> bool:
    """Whether a caller's etag is stale. An empty or missing one means "none given", as in
    an AIP request: the call applies to the resource as it is."""
    return bool(expected) and expected != current


def _etag_mismatch(metadata: dict[str, str]) -> Aborted:
    return Aborted(
        f"{metadata['name']} was changed since it was read (etag mismatch); read it again",
        reason="ETAG_MISMATCH",
        metadata=metadata,
    )


def agent_etag_mismatch(agent_id: str) -> Aborted:
    return _etag_mismatch(agent_metadata(agent_id))


def session_etag_mismatch(key: SessionKey) -> Aborted:
    return _etag_mismatch(session_metadata(key))


def history_changed(key: SessionKey) -> Aborted:
    """A compaction's history was written to after it read it: retry the compaction."""
    metadata = session_metadata(key)
    return Aborted(
        f"the history of {metadata['name']} changed during compaction; retry",
        reason="HISTORY_CHANGED",
        metadata=metadata,
    )


def lease_lost(key: SessionKey, run_id: str) -> Aborted:
    """A run (or, with an empty `run_id`, an operation) whose lease on the session was
    taken over can no longer write to it."""
    metadata = {**session_metadata(key), "run_id": run_id}
    return Aborted(
        f"{metadata['name']} is no longer held by this run or operation",
        reason="LEASE_LOST",
        metadata=metadata,
    )
