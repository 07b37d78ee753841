"""What servicers read from the call itself, such as the caller's tenant."""

from __future__ import annotations

from typing import Any

import grpc

from ..domain.models import DEFAULT_TENANT


def tenant_of(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """Every caller is tenant `default` until authentication assigns tenants."""
    return DEFAULT_TENANT
