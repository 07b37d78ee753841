"""The model provider registry: an agent's `model` string to an Agents SDK `Model`.

Names it knows:
- `echo` (and the empty string): the offline `EchoModel`.
- `gpt-4o`, `o3-mini`, … or `openai/{model}`: OpenAI's Responses API with `OPENAI_API_KEY`.
- `{provider}/{model}`: an OpenAI-compatible chat-completions endpoint (vLLM, Ollama,
  llama.cpp) that the operator configured by name; callers cannot name a URL.
- `litellm/{model}`: LiteLLM, when the `litellm` extra is installed.
- Any name given in `models=`: an injected model, used by tests and embedders.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from agents import Model, OpenAIChatCompletionsModel, OpenAIProvider
from openai import AsyncOpenAI

from ..domain.errors import FailedPrecondition, FieldViolation, InvalidArgument
from .echo import EchoModel

ECHO = "echo"
MODEL_NAME_MAX = 200
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+/-]*")
_OPENAI_BARE = re.compile(r"(gpt-|chatgpt-|o[1-9]|codex-|computer-use-)[A-Za-z0-9._:-]*")
_NO_KEY = "not-needed"  # local endpoints take any key; the client insists on one


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An OpenAI-compatible endpoint: where it is and which variable holds its key."""

    base_url: str
    api_key_env: str = ""
    timeout: float = 300.0
    max_retries: int = 2


class ProviderSettings(Protocol):
    """What the server's configuration says of one endpoint (config.ProviderConfig)."""

    @property
    def base_url(self) -> str: ...

    @property
    def api_key_env(self) -> str: ...


ModelSource = Model | Callable[[], Model]


def _unknown(model: str, why: str) -> InvalidArgument:
    return InvalidArgument(
        f"agent.model: unknown model {model!r}: {why}",
        violations=[FieldViolation("agent.model", f"unknown model {model!r}: {why}")],
        reason="UNKNOWN_MODEL",
        metadata={"model": model},
    )


def litellm_installed() -> bool:
    return importlib.util.find_spec("litellm") is not None


class ModelRegistry:
    """Resolves model names; `validate_model` when an agent is saved, `get_model` per run."""

    def __init__(
        self,
        *,
        endpoints: Mapping[str, Endpoint] | None = None,
        models: Mapping[str, ModelSource] | None = None,
        environ: Mapping[str, str] | None = None,
        echo_word_delay: float = 0.0,
    ) -> None:
        self._endpoints = dict(endpoints or {})
        self._models = dict(models or {})
        self._environ = os.environ if environ is None else environ
        self._echo_word_delay = echo_word_delay
        self._clients: dict[str, AsyncOpenAI] = {}
        self._openai: OpenAIProvider | None = None
        for name in self._endpoints:
            if name in {"openai", "litellm"} or not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
                raise ValueError(f"invalid provider name {name!r}")

    @classmethod
    def from_providers(
        cls, providers: Mapping[str, ProviderSettings], *, echo_word_delay: float = 0.0
    ) -> ModelRegistry:
        """A registry with the configured endpoints (`[providers.NAME]` in the TOML file)."""
        endpoints = {
            name: Endpoint(base_url=p.base_url, api_key_env=p.api_key_env)
            for name, p in providers.items()
        }
        return cls(endpoints=endpoints, echo_word_delay=echo_word_delay)

    def _kind(self, model: str) -> tuple[str, str]:
        """(provider kind, model name for the provider); raises InvalidArgument."""
        name = model or ECHO
        if name in self._models:
            return "injected", name
        if name == ECHO:
            return "echo", name
        if len(name) > MODEL_NAME_MAX or not _NAME.fullmatch(name):
            raise _unknown(model, "not a model name")
        if "/" in name:
            prefix, rest = name.split("/", 1)
            if not rest:
                raise _unknown(model, "no model after the provider")
            if prefix in {"openai", "litellm"}:
                return prefix, rest
            if prefix in self._endpoints:
                return "endpoint", name
            known = ", ".join(sorted(["openai", "litellm", *self._endpoints]))
            raise _unknown(model, f"no provider {prefix!r} (known: {known})")
        if _OPENAI_BARE.fullmatch(name):
            return "openai", name
        raise _unknown(model, "use echo, an OpenAI model name, or {provider}/{model}")

    def validate_model(self, model: str) -> None:
        """Raises InvalidArgument (UNKNOWN_MODEL) or FailedPrecondition for a missing extra."""
        kind, _ = self._kind(model)
        if kind == "litellm" and not litellm_installed():
            raise FailedPrecondition(
                "litellm models need the server installed with the 'litellm' extra: "
                "pip install 'agentsessions[litellm]'",
                reason="MODEL_PROVIDER_NOT_INSTALLED",
                metadata={"model": model, "extra": "litellm"},
            )

    def _key(self, variable: str, model: str) -> str:
        value = self._environ.get(variable, "")
        if not value:
            raise FailedPrecondition(
                f"model {model!r} needs {variable} set on the server",
                reason="MODEL_NOT_CONFIGURED",
                metadata={"model": model, "variable": variable},
            )
        return value

    def get_model(self, model: str) -> Model:
        """A model for one run; raises like `validate_model`, or when a key is missing."""
        self.validate_model(model)
        kind, name = self._kind(model)
        if kind == "injected":
            source = self._models[name]
            return source if isinstance(source, Model) else source()
        if kind == "echo":
            return EchoModel(word_delay=self._echo_word_delay)
        if kind == "openai":
            if self._openai is None:
                self._openai = OpenAIProvider(
                    api_key=self._key("OPENAI_API_KEY", model), use_responses=True
                )
            return self._openai.get_model(name)
        if kind == "litellm":
            from agents.extensions.models.litellm_model import LitellmModel

            return LitellmModel(model=name)
        provider, rest = name.split("/", 1)
        return OpenAIChatCompletionsModel(model=rest, openai_client=self._client(provider, model))

    def _client(self, provider: str, model: str) -> AsyncOpenAI:
        client = self._clients.get(provider)
        if client is None:
            endpoint = self._endpoints[provider]
            key = self._key(endpoint.api_key_env, model) if endpoint.api_key_env else _NO_KEY
            client = AsyncOpenAI(
                base_url=endpoint.base_url,
                api_key=key,
                timeout=endpoint.timeout,
                max_retries=endpoint.max_retries,
            )
            self._clients[provider] = client
        return client

    async def aclose(self) -> None:
        """Closes the HTTP clients of the endpoints used so far."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
        if self._openai is not None:
            await self._openai.aclose()
            self._openai = None
