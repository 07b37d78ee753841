"""Field masks with sub-field paths (AIP-134, AIP-161): a path into a message updates that
sub-field only, through the stubs and through the CLI."""

from __future__ import annotations

import json

import grpc
import pytest
from agentsessions.v1 import agent_pb2, session_pb2
from agentsessions.v1 import session_service_pb2 as ss
from cli_run import run_cli
from google.protobuf import field_mask_pb2
from status_details import details_of

SETTINGS = agent_pb2.ModelSettings(temperature=0.25, top_p=0.5, max_output_tokens=300)


async def tuned_agent(agents, agent_id: str) -> agent_pb2.Agent:
    return await agents.CreateAgent(
        agent_pb2.CreateAgentRequest(
            agent=agent_pb2.Agent(
                display_name="Tuned",
                model_settings=SETTINGS,
                history_policy=agent_pb2.HistoryPolicy(max_items=40),
            ),
            agent_id=agent_id,
        )
    )


async def update(agents, agent: agent_pb2.Agent, *paths: str) -> agent_pb2.Agent:
    return await agents.UpdateAgent(
        agent_pb2.UpdateAgentRequest(agent=agent, update_mask=field_mask_pb2.FieldMask(paths=paths))
    )


async def test_cli_temperature_keeps_the_other_settings(address: str, agents) -> None:
    created = await tuned_agent(agents, "cli-tuned")
    result = await run_cli(address, "agents", "update", "cli-tuned", "--temperature", "1.5")
    assert result.code == 0, result.stderr
    stored = await agents.GetAgent(agent_pb2.GetAgentRequest(name=created.name))
    assert stored.model_settings == agent_pb2.ModelSettings(
        temperature=1.5, top_p=0.5, max_output_tokens=300
    )
    assert stored.history_policy.max_items == 40


async def test_cli_max_history_items_keeps_the_settings(address: str, agents) -> None:
    created = await tuned_agent(agents, "cli-history")
    result = await run_cli(
        address, "agents", "update", "cli-history", "--max-history-items", "7", "--json"
    )
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["name"] == created.name
    stored = await agents.GetAgent(agent_pb2.GetAgentRequest(name=created.name))
    assert (stored.model_settings, stored.history_policy.max_items) == (SETTINGS, 7)


async def test_sub_field_path_updates_only_that_sub_field(agents) -> None:
    created = await tuned_agent(agents, "direct")
    change = agent_pb2.Agent(
        name=created.name,
        display_name="ignored: not in the mask",
        model_settings=agent_pb2.ModelSettings(temperature=0.9, top_p=0.1),
    )
    updated = await update(agents, change, "model_settings.temperature")
    assert updated.model_settings == agent_pb2.ModelSettings(
        temperature=0.9, top_p=0.5, max_output_tokens=300
    )
    assert updated.display_name == "Tuned"
    assert updated.etag != created.etag
    stored = await agents.GetAgent(agent_pb2.GetAgentRequest(name=created.name))
    assert stored == updated


async def test_sub_field_path_unset_in_the_request_clears_it(agents) -> None:
    created = await tuned_agent(agents, "clear-top-p")
    updated = await update(agents, agent_pb2.Agent(name=created.name), "model_settings.top_p")
    assert updated.model_settings == agent_pb2.ModelSettings(
        temperature=0.25, max_output_tokens=300
    )
    assert not updated.model_settings.HasField("top_p")


async def test_several_sub_fields_and_history_policy(agents) -> None:
    created = await tuned_agent(agents, "several")
    change = agent_pb2.Agent(
        name=created.name,
        model_settings=agent_pb2.ModelSettings(top_p=0.75, max_output_tokens=12, temperature=2),
        history_policy=agent_pb2.HistoryPolicy(max_items=3),
    )
    updated = await update(
        agents,
        change,
        "model_settings.top_p",
        "model_settings.max_output_tokens",
        "history_policy.max_items",
    )
    assert updated.model_settings == agent_pb2.ModelSettings(
        temperature=0.25, top_p=0.75, max_output_tokens=12
    )
    assert updated.history_policy.max_items == 3


async def test_whole_message_path_and_star_still_replace_it(agents) -> None:
    created = await tuned_agent(agents, "whole")
    only_temperature = agent_pb2.ModelSettings(temperature=1.0)
    change = agent_pb2.Agent(name=created.name, model_settings=only_temperature)
    updated = await update(agents, change, "model_settings")
    assert updated.model_settings == only_temperature
    everything = agent_pb2.Agent(name=created.name, display_name="Star")
    starred = await update(agents, everything, "*")
    assert starred.model_settings == agent_pb2.ModelSettings()
    assert (starred.display_name, starred.history_policy.max_items) == ("Star", 0)


async def test_message_and_its_sub_field_in_one_mask(agents) -> None:
    created = await tuned_agent(agents, "both")
    change = agent_pb2.Agent(
        name=created.name, model_settings=agent_pb2.ModelSettings(temperature=0.5)
    )
    updated = await update(agents, change, "model_settings.temperature", "model_settings")
    assert updated.model_settings == agent_pb2.ModelSettings(temperature=0.5)


async def test_sub_field_value_is_checked_with_its_field(agents) -> None:
    created = await tuned_agent(agents, "checked")
    change = agent_pb2.Agent(name=created.name, model_settings=agent_pb2.ModelSettings(top_p=3))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await update(agents, change, "model_settings.top_p")
    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.violated_fields == ["agent.model_settings.top_p"]


UNKNOWN_PATHS = [
    "model_settings.seed",
    "model_settings.",
    "model_settings.temperature.value",
    "history_policy.max_items.x",
    "display_name.first",
    "create_time.seconds",
    "tools.0",
]


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
async def test_unknown_sub_field_paths_are_invalid(agents, path: str) -> None:
    created = await tuned_agent(agents, f"unknown-{UNKNOWN_PATHS.index(path)}")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await update(agents, agent_pb2.Agent(name=created.name), path)
    details = details_of(caught.value)
    assert (details.code, details.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_UPDATE_MASK",
    )
    assert details.violated_fields == ["update_mask"]
    assert repr(path) in details.message
    stored = await agents.GetAgent(agent_pb2.GetAgentRequest(name=created.name))
    assert stored == created


@pytest.mark.parametrize("path", ["labels.team", "expire_time.seconds", "stats.item_count"])
async def test_session_paths_into_maps_and_timestamps_are_invalid(agents, sessions, path) -> None:
    # Labels stay one field: `labels` replaces the whole map, as the README says.
    owner = await tuned_agent(agents, f"owner-{path.partition('.')[0].replace('_', '-')}")
    created = await sessions.CreateSession(
        ss.CreateSessionRequest(
            parent=owner.name,
            session=session_pb2.Session(display_name="s", labels={"team": "a", "tier": "b"}),
        )
    )
    change = session_pb2.Session(name=created.name, labels={"team": "z"})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.UpdateSession(
            ss.UpdateSessionRequest(
                session=change, update_mask=field_mask_pb2.FieldMask(paths=[path])
            )
        )
    details = details_of(caught.value)
    assert (details.code, details.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_UPDATE_MASK",
    )
    stored = await sessions.GetSession(ss.GetSessionRequest(name=created.name))
    assert dict(stored.labels) == {"team": "a", "tier": "b"}
