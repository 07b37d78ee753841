"""Why a run failed: SDK, model-client and store exceptions mapped to a RunError (a status)."""

from __future__ import annotations

import enum
import logging

import openai
from agents.exceptions import MaxTurnsExceeded, ModelBehaviorError, UserError

from ..domain import errors
from ..domain.models import RunError

log = logging.getLogger("agentsessions.runtime")


class Code(enum.IntEnum):
    """google.rpc.Code numbers, so that the runtime needs no gRPC import."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# Domain errors a store may raise mid-run (say, the session was deleted meanwhile).
_DOMAIN_CODES: dict[type[errors.DomainError], Code] = {
    errors.InvalidArgument: Code.INVALID_ARGUMENT,
    errors.NotFound: Code.NOT_FOUND,
    errors.AlreadyExists: Code.ALREADY_EXISTS,
    errors.Aborted: Code.ABORTED,
    errors.FailedPrecondition: Code.FAILED_PRECONDITION,
    errors.ResourceExhausted: Code.RESOURCE_EXHAUSTED,
    errors.OutOfRange: Code.OUT_OF_RANGE,
    errors.Unavailable: Code.UNAVAILABLE,
    errors.DeadlineExceeded: Code.DEADLINE_EXCEEDED,
    errors.Unauthenticated: Code.UNAUTHENTICATED,
    errors.Unimplemented: Code.UNIMPLEMENTED,
    errors.Internal: Code.INTERNAL,
}

# Most specific first: APITimeoutError is an APIConnectionError, and so on.
_OPENAI_ERRORS: tuple[tuple[type[BaseException], Code, str, str], ...] = (
    (
        openai.APITimeoutError,
        Code.DEADLINE_EXCEEDED,
        "MODEL_TIMEOUT",
        "the model endpoint did not answer in time",
    ),
    (
        openai.APIConnectionError,
        Code.UNAVAILABLE,
        "MODEL_UNAVAILABLE",
        "the model endpoint could not be reached",
    ),
    (
        openai.AuthenticationError,
        Code.UNAUTHENTICATED,
        "MODEL_UNAUTHENTICATED",
        "the model provider rejected the server's credentials",
    ),
    (
        openai.PermissionDeniedError,
        Code.PERMISSION_DENIED,
        "MODEL_PERMISSION_DENIED",
        "the model provider denied the request",
    ),
    (
        openai.RateLimitError,
        Code.RESOURCE_EXHAUSTED,
        "MODEL_RATE_LIMITED",
        "the model provider's rate limit or quota was reached",
    ),
    (
        openai.NotFoundError,
        Code.NOT_FOUND,
        "MODEL_NOT_FOUND",
        "the model provider does not know the agent's model",
    ),
    (
        openai.BadRequestError,
        Code.INVALID_ARGUMENT,
        "MODEL_REJECTED_REQUEST",
        "the model provider rejected the request (for example, the input is too long)",
    ),
    (
        openai.UnprocessableEntityError,
        Code.INVALID_ARGUMENT,
        "MODEL_REJECTED_REQUEST",
        "the model provider rejected the request",
    ),
    (
        openai.InternalServerError,
        Code.UNAVAILABLE,
        "MODEL_UNAVAILABLE",
        "the model provider failed to answer",
    ),
    (
        TimeoutError,
        Code.DEADLINE_EXCEEDED,
        "MODEL_TIMEOUT",
        "the model did not answer in time",
    ),
    (
        ModelBehaviorError,
        Code.INTERNAL,
        "MODEL_ERROR",
        "the model produced a response the agent cannot use",
    ),
)


def _causes(error: BaseException) -> list[BaseException]:
    """The error and what it wraps: providers sometimes wrap the client's exception."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 8:
        chain.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        else:
            current = None if current.__suppress_context__ else current.__context__
    return chain


def run_error_of(error: BaseException) -> RunError:
    """The status a failed run reports. Messages are generic: no secrets, no stack traces."""
    if isinstance(error, MaxTurnsExceeded):
        return RunError(
            int(Code.RESOURCE_EXHAUSTED),
            "the run reached its max_turns before the agent gave a final answer",
            "MAX_TURNS_EXCEEDED",
        )
    if isinstance(error, errors.DomainError):
        code = _DOMAIN_CODES.get(type(error), Code.INTERNAL)
        return RunError(int(code), error.message, error.reason)
    for cause in _causes(error):
        for kind, code, reason, message in _OPENAI_ERRORS:
            if isinstance(cause, kind):
                log.warning("run failed: %s", reason, extra={"error_type": type(cause).__name__})
                return RunError(int(code), message, reason)
    if isinstance(error, UserError):
        log.error("agent configuration error", exc_info=error)
        return RunError(
            int(Code.INTERNAL), "the agent could not be run", "AGENT_CONFIGURATION_ERROR"
        )
    log.error("run failed", exc_info=error)
    return RunError(int(Code.INTERNAL), "the model run failed", "MODEL_ERROR")


# Codes with no domain error of their own: the model provider refused the server.
_DOMAIN_ERRORS: dict[Code, type[errors.DomainError]] = {
    **{code: kind for kind, code in _DOMAIN_CODES.items()},
    Code.PERMISSION_DENIED: errors.FailedPrecondition,
}


def domain_error_of(error: BaseException) -> errors.DomainError:
    """A model call's failure outside a run (say, a summary) as the domain error to raise."""
    if isinstance(error, errors.DomainError):
        return error
    run_error = run_error_of(error)
    kind = _DOMAIN_ERRORS.get(Code(run_error.code), errors.Internal)
    return kind(run_error.message, reason=run_error.reason)
