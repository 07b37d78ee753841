// @ts-check
/**
 * Runs outlive their stream: SendMessage's requestId, onDisconnect and afterSequence,
 * StreamRunEvents and CancelRun, against a real agentsessions server.
 */
"use strict";

const assert = require("node:assert/strict");
const { randomUUID } = require("node:crypto");
const { after, before, describe, test } = require("node:test");
const { setTimeout: sleep } = require("node:timers/promises");
const { AgentSessionsClient, AgentSessionsError, METHOD_TIMEOUTS_MS, status } = require("../index");
const { startServer } = require("./server");

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/**
 * The echo model repeats the user's text word by word, one event each; the server under test
 * pauses this long between words (its echo_word_delay_seconds setting), so a run's length is
 * set by its text.
 */
const WORD_DELAY_SECONDS = 0.01;
/** @param {number} count */
function words(count) {
  return Array.from({ length: count }, (_, i) => `word${i}`).join(" ");
}
/** About 10 s: still going when a test cancels it, or leaves it, right after its first event. */
const LONG_TEXT = words(1_000);
/** About 1 s: still going when its caller leaves after the first event, and soon done. */
const MEDIUM_TEXT = words(100);

/** Each test's own deadline, so a run that never ends fails its test instead of hanging. */
const LIMIT = { timeout: 60_000 };

/** @type {import("./server").RunningServer} */
let server;
/** @type {AgentSessionsClient} */
let client;
/** @type {string} */
let agentName;

before(async () => {
  server = await startServer({
    env: { AGENTSESSIONS_ECHO_WORD_DELAY_SECONDS: String(WORD_DELAY_SECONDS) },
  });
  client = new AgentSessionsClient(server.address);
  const agent = await client.createAgent({ agent: { displayName: "runs", model: "echo" } });
  agentName = agent.name;
});

after(async () => {
  await client?.deleteAgent({ name: agentName, force: true }).catch(() => {});
  client?.close();
  await server?.stop();
});

/**
 * Awaits a call that must fail and returns its error.
 * @param {() => Promise<unknown>} call
 * @returns {Promise<AgentSessionsError>}
 */
async function failure(call) {
  try {
    await call();
  } catch (error) {
    assert.ok(error instanceof AgentSessionsError, `not an AgentSessionsError: ${error}`);
    return error;
  }
  assert.fail("the call succeeded");
}

/**
 * Every event of a stream.
 * @param {AsyncIterable<import("../index").SendMessageResponse>} stream
 */
async function collect(stream) {
  const events = [];
  for await (const event of stream) {
    events.push(event);
  }
  return events;
}

/**
 * Reads a stream up to its first event (runStarted, naming the run) and leaves it.
 * @param {AsyncIterable<import("../index").SendMessageResponse>} stream
 * @returns {Promise<string>} the run's name
 */
async function runStartedBy(stream) {
  for await (const event of stream) {
    assert.equal(event.event, "runStarted", JSON.stringify(event));
    assert.ok(event.runStarted);
    return event.runStarted.run;
  }
  assert.fail("the stream ended without an event");
}

/**
 * Starts a run with onDisconnect "continue" and leaves its stream after the first event.
 * @param {string} session
 * @param {string} text
 * @param {import("../index").SendMessageOptions} [options]
 * @returns {Promise<string>} the run's name
 */
async function startAndLeave(session, text, options = {}) {
  return runStartedBy(client.sendMessage(session, text, { onDisconnect: "continue", ...options }));
}

/** @param {import("../index").SendMessageResponse[]} events */
function sequences(events) {
  return events.map((e) => e.sequence);
}

/** "1" … "n" as the contract numbers a run's events. */
function oneTo(/** @type {number} */ n) {
  return Array.from({ length: n }, (_, i) => String(i + 1));
}

/** @param {import("../index").SendMessageResponse[]} events */
function lastOf(events) {
  assert.ok(events.length > 0, "no events");
  return events[events.length - 1];
}

async function newSession() {
  return client.createSession({ parent: agentName, session: { displayName: "runs" } });
}

describe("StreamRunEvents", () => {
  test("replays the events SendMessage streamed, all of them or after a sequence", LIMIT, async () => {
    const session = await newSession();
    const streamed = await collect(client.sendMessage(session.name, "Replay me, please"));
    assert.equal(lastOf(streamed).event, "runCompleted");
    const runName = streamed[0].runStarted?.run ?? "";

    assert.deepEqual(await collect(client.streamRunEvents(runName)), streamed);
    const run = await client.getRun({ name: runName });
    assert.equal(run.lastEventSequence, lastOf(streamed).sequence);
    assert.ok(run.eventsExpireTime, "an ended run says when its events expire");
    const afterTwo = await collect(client.streamRunEvents(run, { afterSequence: 2 }));
    assert.deepEqual(afterTwo, streamed.slice(2));
    assert.deepEqual(
      await collect(client.streamRunEvents({ name: runName, afterSequence: "1" })),
      streamed.slice(1),
    );
    const afterLast = await collect(client.streamRunEvents(run, { afterSequence: run.lastEventSequence }));
    assert.deepEqual(afterLast, []);
    const ahead = await failure(() =>
      collect(client.streamRunEvents(run, { afterSequence: Number(run.lastEventSequence) + 1 })),
    );
    assert.equal(ahead.code, status.OUT_OF_RANGE);
  });

  test("onDisconnect continue: the run outlives its stream; StreamRunEvents follows it", LIMIT, async () => {
    const session = await newSession();
    const runName = await startAndLeave(session.name, MEDIUM_TEXT);

    const rest = await collect(client.streamRunEvents(runName, { afterSequence: 1 }));
    assert.deepEqual(sequences(rest), oneTo(rest.length + 1).slice(1));
    const last = lastOf(rest);
    assert.equal(last.event, "runCompleted", JSON.stringify(last));
    assert.equal(last.runCompleted?.finalOutput, MEDIUM_TEXT);
    const run = await client.getRun({ name: runName });
    assert.equal(run.state, "COMPLETED");
    assert.equal(run.onDisconnect, "CONTINUE");
  });

  test("onDisconnect cancel, the default: leaving the loop cancels the run", LIMIT, async () => {
    const session = await newSession();
    const runName = await runStartedBy(client.sendMessage(session.name, LONG_TEXT));

    const last = lastOf(await collect(client.streamRunEvents(runName)));
    assert.equal(last.event, "runCancelled", JSON.stringify(last));
    assert.equal(last.runCancelled?.reason, "the caller disconnected");
    const run = await client.getRun({ name: runName });
    assert.equal(run.state, "CANCELLED");
    assert.equal(run.onDisconnect, "CANCEL");
    assert.equal(run.cancelReason, "the caller disconnected");
  });

  test("a run that does not exist fails with NOT_FOUND", LIMIT, async () => {
    const session = await newSession();
    const error = await failure(() => collect(client.streamRunEvents(`${session.name}/runs/missing`)));
    assert.equal(error.code, status.NOT_FOUND);
    assert.equal(error.domain, "agentsessions");
  });
});

describe("SendMessage requestId", () => {
  test("a requestId is generated when none is given and recorded on the run", LIMIT, async () => {
    const session = await newSession();
    const stream = client.sendMessage(session.name, "Who asked?");
    assert.match(stream.requestId, UUID);
    const events = await collect(stream);
    const run = await client.getRun({ name: events[0].runStarted?.run ?? "" });
    assert.equal(run.requestId, stream.requestId);

    const other = client.sendMessage({ session: session.name, text: "And now?" });
    assert.match(other.requestId, UUID);
    assert.notEqual(other.requestId, stream.requestId);
    await collect(other);
  });

  test("the same requestId twice runs once: the second call replays the first run", LIMIT, async () => {
    const session = await newSession();
    const requestId = randomUUID();
    const first = client.sendMessage(session.name, "Only once", { requestId });
    assert.equal(first.requestId, requestId);
    const events = await collect(first);
    assert.equal(lastOf(events).event, "runCompleted");

    const again = await collect(client.sendMessage(session.name, "Only once", { requestId }));
    assert.deepEqual(again, events);
    const request = { session: session.name, text: "Only once", requestId, afterSequence: 2 };
    assert.deepEqual(await collect(client.sendMessage(request)), events.slice(2));

    const runs = await client.listRuns({ parent: session.name });
    assert.deepEqual(
      runs.runs.map((r) => [r.name, r.requestId]),
      [[events[0].runStarted?.run, requestId]],
    );
    const history = await client.listItems({ parent: session.name });
    assert.deepEqual(
      history.items.map((i) => [i.role, i.text]),
      [
        ["user", "Only once"],
        ["assistant", "Only once"],
      ],
    );

    const reused = await failure(() =>
      collect(client.sendMessage(session.name, "Something else", { requestId })),
    );
    assert.equal(reused.code, status.INVALID_ARGUMENT);
    assert.equal(reused.reason, "REQUEST_ID_REUSED");
  });

  test("the same requestId joins a run that is still going", LIMIT, async () => {
    const session = await newSession();
    const requestId = randomUUID();
    const runName = await startAndLeave(session.name, MEDIUM_TEXT, { requestId });
    const joined = await collect(client.sendMessage(session.name, MEDIUM_TEXT, { requestId }));
    assert.deepEqual(sequences(joined), oneTo(joined.length));
    assert.equal(joined[0].runStarted?.run, runName);
    assert.equal(lastOf(joined).runCompleted?.finalOutput, MEDIUM_TEXT);
    const runs = await client.listRuns({ parent: session.name });
    assert.equal(runs.runs.length, 1);
  });

  test("onDisconnect takes cancel or continue and rejects anything else before calling", () => {
    const later = /** @type {any} */ ("later");
    assert.throws(() => client.sendMessage("agents/a/sessions/s", "hi", { onDisconnect: later }), {
      name: "TypeError",
      message: 'onDisconnect must be "cancel" or "continue", not "later"',
    });
  });
});

describe("CancelRun", () => {
  test("the default deadline is in METHOD_TIMEOUTS_MS", () => {
    assert.equal(METHOD_TIMEOUTS_MS.CancelRun, 120_000);
    assert.equal(METHOD_TIMEOUTS_MS.StreamRunEvents, METHOD_TIMEOUTS_MS.SendMessage);
  });

  test("a run that has ended is returned unchanged", LIMIT, async () => {
    const session = await newSession();
    const events = await collect(client.sendMessage(session.name, "Done already"));
    const runName = events[0].runStarted?.run ?? "";
    const before = await client.getRun({ name: runName });
    assert.equal(before.state, "COMPLETED");

    const cancelled = await client.cancelRun(runName);
    assert.deepEqual(cancelled, before);
    assert.equal(cancelled.state, "COMPLETED");
    assert.equal(cancelled.cancelMode, "CANCEL_MODE_UNSPECIFIED");
    assert.equal(cancelled.cancelReason, "");
    assert.deepEqual(await client.cancelRun(before, { mode: "afterTurn" }), before);
  });

  test("busyPolicy interrupt cancels the running run and starts", LIMIT, async () => {
    const session = await newSession();
    const first = client.sendMessage(session.name, LONG_TEXT, { onDisconnect: "continue" });
    const started = await first.next();
    const runName = started.value?.runStarted?.run ?? "";
    const second = await collect(
      client.sendMessage(session.name, "instead", { busyPolicy: "interrupt" }),
    );
    assert.equal(second.at(-1)?.runCompleted?.finalOutput, "instead");
    const first_run = await client.getRun({ name: runName });
    assert.equal(first_run.state, "CANCELLED");
    assert.equal(first_run.cancelReason, "interrupted by a new message");
    await first.return(undefined);
    assert.throws(
      () => client.sendMessage(session.name, "x", { busyPolicy: /** @type {any} */ ("queue") }),
      /busyPolicy/,
    );
  });

  test("busyPolicy enqueue: the second message waits its turn, then runs", LIMIT, async () => {
    const session = await newSession();
    const first = client.sendMessage(session.name, MEDIUM_TEXT);
    await first.next();
    const second = await collect(client.sendMessage(session.name, "next", { busyPolicy: "enqueue" }));
    assert.equal(second[0].event, "runQueued");
    assert.equal(second[0].runQueued?.position, 1);
    assert.equal(second[1].event, "runStarted");
    assert.equal(second.at(-1)?.runCompleted?.finalOutput, "next");
    const rest = await collect(first);
    assert.equal(rest.at(-1)?.event, "runCompleted");
  });

  test("resolveApprovals sends its decisions; a call the run never made is refused", LIMIT, async () => {
    const session = await newSession();
    const events = await collect(client.sendMessage(session.name, "No tools here"));
    const runName = events[0].runStarted?.run ?? "";
    const done = await client.getRun({ name: runName });
    assert.deepEqual(done.approvals, []);
    await assert.rejects(
      client.resolveApprovals(runName, { approve: ["call-1"], reject: { "call-2": "no" } }),
      (/** @type {any} */ error) => {
        assert.ok(error instanceof AgentSessionsError);
        assert.equal(error.code, status.INVALID_ARGUMENT);
        assert.equal(error.reason, "UNKNOWN_CALL");
        return true;
      },
    );
    await assert.rejects(client.resolveApprovals(runName, {}), (/** @type {any} */ error) => {
      assert.equal(error.code, status.INVALID_ARGUMENT);
      assert.match(error.message, /decisions/);
      return true;
    });
  });

  test("a running run ends CANCELLED, and the SendMessage stream with runCancelled", LIMIT, async () => {
    const session = await newSession();
    /** @type {Promise<import("../index").Run> | undefined} */
    let cancelling;
    const events = [];
    for await (const event of client.sendMessage(session.name, LONG_TEXT)) {
      events.push(event);
      if (event.event === "runStarted" && event.runStarted) {
        cancelling = client.cancelRun(event.runStarted.run, { mode: "immediate" });
        // Awaited after the stream; until then a failure must not count as unhandled.
        cancelling.catch(() => {});
      }
    }
    assert.ok(cancelling);
    const run = await cancelling;
    assert.equal(run.state, "CANCELLED");
    assert.equal(run.cancelMode, "IMMEDIATE");
    assert.equal(run.cancelReason, "cancelled by CancelRun");
    assert.ok(run.endTime);

    assert.deepEqual(sequences(events), oneTo(events.length));
    const last = lastOf(events);
    assert.equal(last.event, "runCancelled", JSON.stringify(last));
    assert.equal(last.runCancelled?.reason, "cancelled by CancelRun");
    assert.equal(last.runCancelled?.run?.state, "CANCELLED");
    assert.equal(run.lastEventSequence, last.sequence);
    // IMMEDIATE keeps whole turns only: the reply being written is not stored.
    const history = await client.listItems({ parent: session.name });
    assert.deepEqual(
      history.items.map((i) => i.role),
      ["user"],
    );
  });

  test("a run its caller left (onDisconnect continue) is cancelled; its events say so", LIMIT, async () => {
    const session = await newSession();
    const runName = await startAndLeave(session.name, LONG_TEXT);

    const run = await client.cancelRun(runName);
    assert.equal(run.state, "CANCELLED");
    assert.equal(run.cancelMode, "IMMEDIATE");
    const events = await collect(client.streamRunEvents(runName));
    assert.deepEqual(sequences(events), oneTo(events.length));
    assert.equal(lastOf(events).event, "runCancelled");
    assert.equal(lastOf(events).sequence, run.lastEventSequence);
  });

  test("afterTurn lets the current model turn finish and be stored", LIMIT, async () => {
    const session = await newSession();
    const runName = await startAndLeave(session.name, MEDIUM_TEXT);

    const run = await client.cancelRun({ name: runName, mode: "afterTurn" });
    assert.equal(run.cancelMode, "AFTER_TURN");
    // The echo model's one turn is the run's last: it may end COMPLETED rather than CANCELLED.
    assert.ok(["CANCELLED", "COMPLETED"].includes(run.state), run.state);
    const history = await client.listItems({ parent: session.name });
    assert.deepEqual(
      history.items.map((i) => [i.role, i.text]),
      [
        ["user", MEDIUM_TEXT],
        ["assistant", MEDIUM_TEXT],
      ],
    );
  });

  test("a cancel whose deadline comes first returns the run still going; it stands", LIMIT, async () => {
    const session = await newSession();
    const runName = await startAndLeave(session.name, LONG_TEXT);

    // The server waits for the run until shortly before the deadline, then answers.
    const waiting = await client.cancelRun(runName, { mode: "afterTurn", timeoutMs: 1_500 });
    assert.equal(waiting.state, "RUNNING");
    assert.equal(waiting.cancelMode, "AFTER_TURN");
    assert.equal(waiting.cancelReason, "cancelled by CancelRun");
    const stopped = await client.cancelRun(runName, { mode: "immediate" });
    assert.equal(stopped.state, "CANCELLED");
    assert.equal(stopped.cancelMode, "IMMEDIATE");
  });

  test("mode takes immediate or afterTurn and rejects anything else before calling", LIMIT, async () => {
    const soon = /** @type {any} */ ("soon");
    await assert.rejects(client.cancelRun("agents/a/sessions/s/runs/r", { mode: soon }), {
      name: "TypeError",
      message: 'mode must be "immediate" or "afterTurn", not "soon"',
    });
  });
});

describe("ListRuns", () => {
  test("lists the runs of every session of an agent, or of everyone, by state", LIMIT, async () => {
    const agent = await client.createAgent({ agent: { displayName: "lists", model: "echo" } });
    try {
      const names = [];
      for (const displayName of ["first", "second"]) {
        const session = await client.createSession({ parent: agent.name, session: { displayName } });
        const events = await collect(client.sendMessage(session.name, "Listed"));
        names.unshift(events[0].runStarted?.run); // newest first
      }
      const parent = `${agent.name}/sessions/-`;
      const all = await client.listRuns({ parent });
      assert.deepEqual(all.runs.map((r) => r.name), names);
      const first = await client.listRuns({ parent, filter: "state = COMPLETED", pageSize: 1 });
      assert.deepEqual(first.runs.map((r) => r.name), names.slice(0, 1));
      const next = await client.listRuns({
        parent,
        filter: "state = COMPLETED",
        pageSize: 1,
        pageToken: first.nextPageToken,
      });
      assert.deepEqual(next.runs.map((r) => r.name), names.slice(1));
      const everyone = "agents/-/sessions/-";
      const waiting = await client.listRuns({ parent: everyone, filter: "state = REQUIRES_APPROVAL" });
      assert.deepEqual(waiting.runs, []);
      const bad = await failure(() => client.listRuns({ parent, filter: "state = WAITING" }));
      assert.equal(bad.code, status.INVALID_ARGUMENT);
      assert.equal(bad.reason, "INVALID_FILTER");
    } finally {
      await client.deleteAgent({ name: agent.name, force: true });
    }
  });
});

describe("events after their retention period", () => {
  test("StreamRunEvents fails with OUT_OF_RANGE, reason EVENTS_EXPIRED", LIMIT, async () => {
    const shortLived = await startServer({ env: { AGENTSESSIONS_EVENT_RETENTION_SECONDS: "1" } });
    const other = new AgentSessionsClient(shortLived.address);
    try {
      const agent = await other.createAgent({ agent: { displayName: "retention", model: "echo" } });
      const session = await other.createSession({ parent: agent.name, session: { displayName: "old" } });
      const events = await collect(other.sendMessage(session.name, "Soon forgotten"));
      const runName = events[0].runStarted?.run ?? "";

      // The events go once the run's eventsExpireTime has passed; the server may take a moment.
      const deadline = Date.now() + 30_000;
      /** @type {AgentSessionsError | undefined} */
      let expired;
      while (!expired && Date.now() < deadline) {
        await sleep(500);
        try {
          await collect(other.streamRunEvents(runName));
        } catch (error) {
          assert.ok(error instanceof AgentSessionsError, `not an AgentSessionsError: ${error}`);
          expired = error;
        }
      }
      assert.ok(expired, "the events were still there after 30 s");
      assert.equal(expired.code, status.OUT_OF_RANGE);
      assert.equal(expired.reason, "EVENTS_EXPIRED");
      assert.equal(expired.domain, "agentsessions");
    } finally {
      other.close();
      await shortLived.stop();
    }
  });
});
