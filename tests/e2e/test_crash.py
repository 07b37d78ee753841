"""SIGKILL in the middle of concurrent AddItems loses no acknowledged item and no half batch."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest
from agentsessions.v1 import session_pb2, session_service_pb2_grpc
from agentsessions.v1 import session_service_pb2 as ss
from server_process import ServerProcess

WRITERS = 16
BATCH = 5
KILL_AFTER_ACKS = 300


async def write_until_killed(
    stub, parent: str, writer: int, acked: list[tuple[int, int]], enough: asyncio.Event
) -> None:
    batch_number = 0
    while True:
        items = [
            session_pb2.Item(
                item_json=json.dumps({"role": "user", "content": f"{writer}/{batch_number}/{i}"})
            )
            for i in range(BATCH)
        ]
        try:
            await stub.AddItems(ss.AddItemsRequest(parent=parent, items=items), timeout=10)
        except grpc.aio.AioRpcError:
            return  # the server is gone; this batch was never acknowledged
        acked.append((writer, batch_number))
        if len(acked) >= KILL_AFTER_ACKS:
            enough.set()
        batch_number += 1


@pytest.mark.slow
async def test_sigkill_during_concurrent_add_items(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    acked: list[tuple[int, int]] = []
    with ServerProcess(db) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = session_service_pb2_grpc.SessionServiceStub(channel)
            parents = []
            for s in range(4):
                request = ss.CreateSessionRequest(
                    parent="agents/default",
                    session=session_pb2.Session(display_name=f"s{s}"),
                    session_id=f"s{s}",
                )
                parents.append((await stub.CreateSession(request)).name)
            enough = asyncio.Event()
            writers = [
                asyncio.create_task(write_until_killed(stub, parents[w % 4], w, acked, enough))
                for w in range(WRITERS)
            ]
            await asyncio.wait_for(enough.wait(), timeout=60)
            server.kill()
            await asyncio.gather(*writers)

    with ServerProcess(db) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = session_service_pb2_grpc.SessionServiceStub(channel)
            stored: dict[tuple[int, int], list[tuple[int, int]]] = {}
            for parent in parents:
                sequences = []
                token = ""
                while True:
                    page = await stub.ListItems(
                        ss.ListItemsRequest(parent=parent, page_size=1000, page_token=token)
                    )
                    for item in page.items:
                        sequences.append(item.sequence)
                        writer, batch, index = map(int, item.text.split("/"))
                        stored.setdefault((writer, batch), []).append((item.sequence, index))
                    token = page.next_page_token
                    if not token:
                        break
                assert sequences == list(range(1, len(sequences) + 1)), "sequences stay dense"
                session = await stub.GetSession(ss.GetSessionRequest(name=parent))
                assert session.stats.item_count == len(sequences)

    missing = [batch for batch in acked if batch not in stored]
    assert not missing, f"acknowledged batches lost: {missing[:5]}"
    for batch, entries in stored.items():
        sequences = [sequence for sequence, _ in entries]
        assert [index for _, index in entries] == list(range(BATCH)), f"partial batch {batch}"
        assert sequences == list(range(sequences[0], sequences[0] + BATCH)), f"interleaved {batch}"
    assert len(acked) >= KILL_AFTER_ACKS
    in_flight = len(stored) - len(acked)
    print(f"acknowledged {len(acked)} batches, stored {len(stored)} ({in_flight} in flight)")
