// @ts-check
/** The Node client against a real agentsessions server: CRUD, history, SendMessage, errors. */
"use strict";

const assert = require("node:assert/strict");
const { randomUUID } = require("node:crypto");
const { after, before, describe, test } = require("node:test");
const { AgentSessionsClient, AgentSessionsError, loadContract, status } = require("../index");
const { startServer } = require("./server");

/** @type {import("./server").RunningServer} */
let server;
/** @type {AgentSessionsClient} */
let client;

before(async () => {
  server = await startServer();
  client = new AgentSessionsClient(server.address);
});

after(async () => {
  client?.close();
  await server?.stop();
});

/**
 * Awaits a call that must fail and returns its error.
 * @param {Promise<unknown> | (() => Promise<unknown>)} call
 * @returns {Promise<AgentSessionsError>}
 */
async function failure(call) {
  try {
    await (typeof call === "function" ? call() : call);
  } catch (error) {
    assert.ok(error instanceof AgentSessionsError, `not an AgentSessionsError: ${error}`);
    return error;
  }
  assert.fail("the call succeeded");
}

/** @param {string} displayName */
async function newAgent(displayName) {
  return client.createAgent({ agent: { displayName, instructions: "Be brief.", model: "echo" } });
}

/** @param {string} parent */
async function newSession(parent) {
  return client.createSession({ parent, session: { displayName: "node test" } });
}

test("every RPC of the contract has a client method", () => {
  const contract = loadContract();
  const rpcs = [
    ...Object.keys(contract.AgentService.service),
    ...Object.keys(contract.SessionService.service),
  ];
  assert.equal(rpcs.length, 22);
  for (const rpc of rpcs) {
    const method = rpc[0].toLowerCase() + rpc.slice(1);
    assert.equal(typeof Reflect.get(client, method), "function", `no client method ${method}`);
  }
});

describe("agents and sessions", () => {
  test("create, get, list and delete", async () => {
    const agent = await newAgent("crud");
    assert.match(agent.name, /^agents\/[0-9a-f-]{36}$/);
    assert.equal(agent.displayName, "crud");
    assert.ok(agent.createTime && Number(agent.createTime.seconds) > 0);
    assert.deepEqual(await client.getAgent({ name: agent.name }), agent);

    const session = await client.createSession({
      parent: agent.name,
      sessionId: "node-session",
      session: { displayName: "labelled", labels: { client: "node" } },
    });
    assert.equal(session.name, `${agent.name}/sessions/node-session`);
    assert.equal(session.state, "ACTIVE");
    assert.deepEqual(session.labels, { client: "node" });
    assert.equal(session.stats?.itemCount, "0");

    const listed = await client.listSessions({ parent: agent.name });
    assert.deepEqual(
      listed.sessions.map((s) => s.name),
      [session.name],
    );

    await client.deleteSession({ name: session.name });
    const gone = await failure(client.getSession({ name: session.name }));
    assert.equal(gone.code, status.NOT_FOUND);
    await client.deleteAgent({ name: agent.name });
  });

  test("the history protocol: AddItems, ListItems, PopItem, ClearSession", async () => {
    const agent = await newAgent("history");
    const session = await newSession(agent.name);
    const items = ["one", "two", "three"].map((content) => ({
      itemJson: JSON.stringify({ role: "user", content }),
    }));

    const requestId = randomUUID();
    const added = await client.addItems({ parent: session.name, items, requestId });
    assert.deepEqual(
      added.items.map((i) => [i.sequence, i.type, i.role, i.itemJson, i.text]),
      [
        ["1", "message", "user", "", ""],
        ["2", "message", "user", "", ""],
        ["3", "message", "user", "", ""],
      ],
    );
    // A retry with the same requestId stores nothing and returns the first reply.
    assert.deepEqual(await client.addItems({ parent: session.name, items, requestId }), added);
    const reused = await failure(
      client.addItems({ parent: session.name, items: items.slice(1), requestId }),
    );
    assert.equal(reused.reason, "REQUEST_ID_REUSED");
    const newest = await client.listItems({ parent: session.name, newestCount: 2 });
    assert.deepEqual(
      newest.items.map((i) => JSON.parse(i.itemJson).content),
      ["two", "three"],
    );
    const popped = await client.popItem({ parent: session.name });
    assert.equal(popped.item?.sequence, "3");
    const cleared = await client.clearSession({ name: session.name });
    assert.equal(cleared.deletedItemCount, "2");
    const empty = await client.popItem({ parent: session.name });
    assert.equal(empty.item, null);
    await client.deleteAgent({ name: agent.name, force: true });
  });
});

describe("compaction and batch delete", () => {
  test("CompactSession: a summary, then keepNewestCount 0 with the echo model", async () => {
    const agent = await newAgent("compact");
    const session = await newSession(agent.name);
    const items = ["one", "two", "three", "four"].map((content) => ({
      itemJson: JSON.stringify({ role: "user", content }),
    }));
    await client.addItems({ parent: session.name, items });

    const done = await client.compactSession({
      name: session.name,
      keepNewestCount: 1,
      summaryText: "Counted to three.",
    });
    assert.equal(done.removedItemCount, "3");
    assert.equal(done.summaryItem?.sequence, "1");
    assert.equal(
      done.summaryItem?.text,
      "Summary of the earlier conversation:\n\nCounted to three.",
    );
    assert.equal(done.session?.stats?.itemCount, "2");

    const unchanged = await client.compactSession({ name: session.name, summaryText: "x" });
    assert.equal(unchanged.removedItemCount, "0");
    assert.equal(unchanged.summaryItem, null);

    const all = await client.compactSession({ name: session.name, keepNewestCount: 0 });
    assert.equal(all.removedItemCount, "2");
    assert.equal(all.usage?.requests, "1");
    const listed = await client.listItems({ parent: session.name });
    assert.deepEqual(
      listed.items.map((i) => i.sequence),
      ["1"],
    );
    await client.deleteAgent({ name: agent.name, force: true });
  });

  test("BatchDeleteSessions deletes all or none", async () => {
    const agent = await newAgent("batch");
    const first = await newSession(agent.name);
    const second = await newSession(agent.name);
    const missing = await failure(
      client.batchDeleteSessions({
        parent: agent.name,
        names: [first.name, `${agent.name}/sessions/gone`],
      }),
    );
    assert.equal(missing.code, status.NOT_FOUND);
    assert.equal(missing.reason, "SESSION_NOT_FOUND");
    const duplicate = await failure(
      client.batchDeleteSessions({ parent: "agents/-", names: [first.name, first.name] }),
    );
    assert.deepEqual(
      duplicate.fieldViolations.map((v) => v.field),
      ["names[1]"],
    );

    await client.batchDeleteSessions({ parent: agent.name, names: [first.name, second.name] });
    const left = await client.listSessions({ parent: agent.name });
    assert.deepEqual(left.sessions, []);
    await client.deleteAgent({ name: agent.name });
  });
});

describe("status details from the grpc-status-details-bin trailer", () => {
  test("INVALID_ARGUMENT carries ErrorInfo and BadRequest", async () => {
    const agent = await newAgent("errors");
    const error = await failure(
      client.createSession({ parent: agent.name, session: { displayName: "" } }),
    );
    assert.equal(error.code, status.INVALID_ARGUMENT);
    assert.equal(error.codeName, "INVALID_ARGUMENT");
    assert.equal(error.domain, "agentsessions");
    assert.match(error.reason, /^[A-Z][A-Z0-9_]*$/);
    assert.deepEqual(
      error.fieldViolations.map((v) => v.field),
      ["session.display_name"],
    );
    assert.ok(error.fieldViolations[0].description.length > 0);
    await client.deleteAgent({ name: agent.name, force: true });
  });

  test("NOT_FOUND carries an ErrorInfo with the resource name", async () => {
    const error = await failure(client.getAgent({ name: "agents/does-not-exist" }));
    assert.equal(error.code, status.NOT_FOUND);
    assert.equal(error.reason, "AGENT_NOT_FOUND");
    assert.equal(error.domain, "agentsessions");
    assert.deepEqual(error.fieldViolations, []);
    assert.deepEqual(
      error.statusDetails.map((d) => d.typeName),
      ["google.rpc.ErrorInfo"],
    );
  });

  test("a SendMessage that fails before the run rejects the stream the same way", async () => {
    const error = await failure(async () => {
      for await (const _event of client.sendMessage({
        session: "agents/does-not-exist/sessions/none",
        text: "hello",
      })) {
        assert.fail("no event expected");
      }
    });
    assert.equal(error.code, status.NOT_FOUND);
    assert.equal(error.domain, "agentsessions");
    assert.match(error.reason, /_NOT_FOUND$/);
  });
});

describe("SendMessage", () => {
  test("streams a run from run_started to run_completed and stores the reply", async () => {
    const agent = await newAgent("stream");
    const session = await newSession(agent.name);

    const events = [];
    for await (const event of client.sendMessage({ session: session.name, text: "Hello from Node" })) {
      events.push(event);
    }

    assert.deepEqual(
      events.map((e) => e.sequence),
      events.map((_e, i) => String(i + 1)),
    );
    assert.equal(events[0].event, "runStarted");
    const last = events[events.length - 1];
    assert.equal(last.event, "runCompleted", JSON.stringify(last));
    const completed = last.runCompleted;
    assert.ok(completed && completed.run && completed.sessionStats);
    assert.equal(completed.run.state, "COMPLETED");
    assert.ok(completed.finalOutput.length > 0);

    const deltas = events.filter((e) => e.event === "textDelta").map((e) => e.textDelta?.delta);
    if (deltas.length > 0) {
      assert.equal(deltas.join(""), completed.finalOutput);
    }
    const history = await client.listItems({ parent: session.name });
    assert.deepEqual(
      history.items.map((i) => [i.role, i.text]),
      [
        ["user", "Hello from Node"],
        ["assistant", completed.finalOutput],
      ],
    );
    assert.equal(completed.sessionStats.itemCount, "2");
    await client.deleteAgent({ name: agent.name, force: true });
  });
});
