"""The model and tool registries, the safe calculator, and run input checks."""

from __future__ import annotations

import json
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from agents import OpenAIChatCompletionsModel
from agents.models.openai_responses import OpenAIResponsesModel
from agents.testing import ScriptedModel
from agents.tool_context import ToolContext
from agentsessions.server.domain.errors import FailedPrecondition, InvalidArgument
from agentsessions.server.runtime import (
    EchoModel,
    Endpoint,
    ModelRegistry,
    ToolRegistry,
    items_input,
    max_turns_of,
    run_input,
    text_input,
)
from agentsessions.server.runtime import models as models_module
from agentsessions.server.runtime.arithmetic import CalculationError, evaluate

REGISTRY = ModelRegistry(endpoints={"local": Endpoint("http://127.0.0.1:9/v1")})


@pytest.mark.parametrize(
    "name",
    ["", "echo", "gpt-4o", "o3-mini", "openai/gpt-4o", "local/llama3.1:8b", "local/org/model"],
)
def test_known_model_names(name: str) -> None:
    REGISTRY.validate_model(name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("eco", "use echo"),
        ("nowhere/llama", "no provider 'nowhere'"),
        ("local/", "no model after the provider"),
        ("gpt 4", "not a model name"),
        ("http://evil.example/v1", "no provider 'http:'"),
    ],
)
def test_unknown_models_are_invalid_arguments(name: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        REGISTRY.validate_model(name)
    assert caught.value.reason == "UNKNOWN_MODEL"
    assert [v.field for v in caught.value.violations] == ["agent.model"]
    assert why in caught.value.message


def test_litellm_needs_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models_module, "litellm_installed", lambda: False)
    with pytest.raises(FailedPrecondition) as caught:
        REGISTRY.validate_model("litellm/anthropic/claude-3-5-sonnet")
    assert caught.value.reason == "MODEL_PROVIDER_NOT_INSTALLED"
    assert "agentsessions[litellm]" in caught.value.message


def test_models_are_built_per_kind() -> None:
    scripted = ScriptedModel()
    registry = ModelRegistry(
        endpoints={
            "local": Endpoint("http://127.0.0.1:9/v1"),
            "keyed": Endpoint("http://127.0.0.1:9/v1", "LOCAL_KEY"),
        },
        models={"scripted": scripted, "fresh": lambda: ScriptedModel()},
        environ={"OPENAI_API_KEY": "sk-test"},
    )
    assert isinstance(registry.get_model(""), EchoModel)
    assert registry.get_model("scripted") is scripted
    assert registry.get_model("fresh") is not registry.get_model("fresh")
    assert isinstance(registry.get_model("gpt-4o"), OpenAIResponsesModel)
    local = registry.get_model("local/llama3")
    assert isinstance(local, OpenAIChatCompletionsModel) and local.model == "llama3"
    with pytest.raises(FailedPrecondition) as caught:
        registry.get_model("keyed/llama3")
    assert caught.value.reason == "MODEL_NOT_CONFIGURED"
    assert caught.value.metadata["variable"] == "LOCAL_KEY"


def test_openai_needs_a_key() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        ModelRegistry(environ={}).get_model("openai/gpt-4o")
    assert "OPENAI_API_KEY" in caught.value.message


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("2 * (3 + 4) ** 2", 98),
        ("7 // 2 + 7 % 2", 4),
        ("-2 ** 2", -4),
        ("sqrt(16) + max(1, 2)", 6.0),
        ("1 / 4", 0.25),
    ],
)
def test_calculator(expression: str, result: float) -> None:
    assert evaluate(expression) == result


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "(1).__class__",
        "2 ** 100000",
        "9 ** 9 ** 9",
        "1 / 0",
        "x",
        "[1, 2]",
        "a" * 600,
    ],
)
def test_calculator_refuses(expression: str) -> None:
    with pytest.raises(CalculationError):
        evaluate(expression)


async def invoke(registry: ToolRegistry, name: str, arguments: dict[str, str]) -> str:
    (tool,) = registry.get_tools([name])
    context = ToolContext(
        context=None, tool_name=name, tool_call_id="c1", tool_arguments=json.dumps(arguments)
    )
    return str(await tool.on_invoke_tool(context, json.dumps(arguments)))  # type: ignore[union-attr]


async def test_builtin_tools() -> None:
    registry = ToolRegistry()
    assert registry.names == ["calculate", "current_time"]
    assert await invoke(registry, "calculate", {"expression": "6 * 7"}) == "42"
    assert (await invoke(registry, "calculate", {"expression": "1/0"})).startswith("error:")
    assert "(" in await invoke(registry, "current_time", {"timezone": "Europe/Paris"})
    assert "unknown time zone" in await invoke(registry, "current_time", {"timezone": "Mars/Base"})


def test_unknown_tools_are_invalid_arguments() -> None:
    with pytest.raises(InvalidArgument) as caught:
        ToolRegistry().validate_tools(["calculate", "teleport", "fly"])
    assert caught.value.reason == "UNKNOWN_TOOL"
    assert [v.description for v in caught.value.violations] == [
        "unknown tool 'teleport'",
        "unknown tool 'fly'",
    ]


async def test_tools_from_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "operator_tools.py").write_text(
        "from agents import function_tool\n\n"
        "def shout(text: str) -> str:\n"
        '    """Says it louder."""\n'
        "    return text.upper()\n\n"
        "@function_tool\n"
        "def whisper(text: str) -> str:\n"
        '    """Says it softer."""\n'
        "    return text.lower()\n\n"
        "NOT_A_TOOL = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    group = "agentsessions.tools"
    found = [
        EntryPoint("shout", "operator_tools:shout", group),
        EntryPoint("quiet", "operator_tools:whisper", group),
        EntryPoint("broken", "operator_tools:NOT_A_TOOL", group),
        EntryPoint("missing", "no_such_module:tool", group),
    ]
    registry = ToolRegistry.with_entry_points(found)
    assert registry.names == ["calculate", "current_time", "quiet", "shout"]
    assert await invoke(registry, "shout", {"text": "hi"}) == "HI"
    assert await invoke(registry, "quiet", {"text": "HI"}) == "hi"
    sys.modules.pop("operator_tools", None)


def test_run_input_checks() -> None:
    assert text_input("hi").to_sdk() == "hi"
    for blank in ("", "  \n\t"):
        with pytest.raises(InvalidArgument) as caught:
            text_input(blank)
        assert [v.field for v in caught.value.violations] == ["text"]
    items = json.dumps(
        [{"role": "user", "content": "hi"}, {"type": "function_call_output", "call_id": "c"}]
    )
    assert len(items_input(items).items) == 2
    for bad, field in [
        ("not json", "input_items_json"),
        ("[]", "input_items_json"),
        ('{"role": "user"}', "input_items_json"),
        ('[{"role": "robot", "content": "x"}]', "input_items_json[0]"),
        ('[{"role": "user", "content": "x"}, 3]', "input_items_json[1]"),
        ('[{"type": "function_call_output", "output": "x"}]', "input_items_json[0]"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            items_input(bad)
        assert caught.value.violations[0].field == field, bad
    with pytest.raises(InvalidArgument):
        run_input(text=None, input_items_json=None)
    assert max_turns_of(0) == 10 and max_turns_of(3) == 3
    with pytest.raises(InvalidArgument):
        max_turns_of(-1)
    with pytest.raises(InvalidArgument):
        max_turns_of(1000)
