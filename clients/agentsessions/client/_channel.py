"""Channels to the service: address, TLS, bearer token, keepalive and reconnect options."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
ADDRESS_ENV = "AGENTSESSIONS_ADDRESS"
TOKEN_ENV = "AGENTSESSIONS_TOKEN"
USER_AGENT = "agentsessions-python"

Metadata = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class ChannelOptions:
    """How to reach the service.

    Attributes:
        address: `host:port`; defaults to $AGENTSESSIONS_ADDRESS, then 127.0.0.1:50051.
        credentials: TLS credentials (`grpc.ssl_channel_credentials()`); plaintext when None.
        token: a bearer token sent as `authorization: Bearer …` on every call;
            defaults to $AGENTSESSIONS_TOKEN.
        keepalive_time: seconds between keepalive pings on an idle connection; None: off.
        keepalive_timeout: seconds to wait for a ping's answer before closing.
        extra: more raw `grpc.*` channel arguments.
    """

    address: str | None = None
    credentials: grpc.ChannelCredentials | None = None
    token: str | None = None
    keepalive_time: float | None = 30.0
    keepalive_timeout: float = 10.0
    extra: Sequence[tuple[str, Any]] = field(default_factory=tuple)

    def resolved_address(self) -> str:
        return self.address or os.environ.get(ADDRESS_ENV) or DEFAULT_ADDRESS

    def resolved_token(self) -> str | None:
        return self.token if self.token is not None else os.environ.get(TOKEN_ENV) or None

    def grpc_options(self) -> list[tuple[str, Any]]:
        options: list[tuple[str, Any]] = [
            ("grpc.primary_user_agent", USER_AGENT),
            # Reconnect quickly once a restarted server is back, instead of the
            # library's default backoff of up to two minutes.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2000),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ]
        if self.keepalive_time is not None:
            options += [
                ("grpc.keepalive_time_ms", int(self.keepalive_time * 1000)),
                ("grpc.keepalive_timeout_ms", int(self.keepalive_timeout * 1000)),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.max_pings_without_data", 0),
            ]
        options += list(self.extra)
        return options

    def auth_metadata(self) -> tuple[tuple[str, str], ...]:
        """The metadata every call carries; the token is never logged or shown."""
        token = self.resolved_token()
        return (("authorization", f"Bearer {token}"),) if token else ()


def create_aio_channel(options: ChannelOptions) -> grpc.aio.Channel:
    """Opens an asyncio channel; it connects lazily, on the first call."""
    address, args = options.resolved_address(), options.grpc_options()
    if options.credentials is not None:
        return grpc.aio.secure_channel(address, options.credentials, options=args)
    return grpc.aio.insecure_channel(address, options=args)


def create_sync_channel(options: ChannelOptions) -> grpc.Channel:
    """Opens a blocking channel; it connects lazily, on the first call."""
    address, args = options.resolved_address(), options.grpc_options()
    if options.credentials is not None:
        return grpc.secure_channel(address, options.credentials, options=args)
    return grpc.insecure_channel(address, options=args)


def tls_credentials(
    root_certificates_file: str | None = None,
    *,
    client_certificate_file: str | None = None,
    client_key_file: str | None = None,
) -> grpc.ChannelCredentials:
    """TLS credentials from PEM files; the system roots when no root file is given."""

    def read(path: str | None) -> bytes | None:
        if path is None:
            return None
        with open(path, "rb") as handle:
            return handle.read()

    return grpc.ssl_channel_credentials(
        root_certificates=read(root_certificates_file),
        private_key=read(client_key_file),
        certificate_chain=read(client_certificate_file),
    )
