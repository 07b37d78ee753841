// @ts-check
/** example.js runs start to finish against a real server, as a user would run it. */
"use strict";

const assert = require("node:assert/strict");
const { execFile } = require("node:child_process");
const path = require("node:path");
const { test } = require("node:test");
const { promisify } = require("node:util");
const { startServer } = require("./server");

const EXAMPLE = path.resolve(__dirname, "..", "example.js");

test("example.js creates an agent and a session, streams a reply and decodes an error", async () => {
  const server = await startServer();
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [EXAMPLE, server.address], {
      timeout: 120_000,
    });
    const lines = stdout.trim().split("\n");
    assert.match(lines[0], /^created agents\/[0-9a-f-]{36}$/);
    assert.match(lines[1], /^created agents\/[0-9a-f-]{36}\/sessions\/[0-9a-f-]{36}$/);
    assert.ok(lines.includes("event 1: runStarted"), stdout);
    assert.ok(lines.some((l) => l.startsWith("run completed: ")), stdout);
    assert.ok(lines.includes("session now holds 2 items"), stdout);
    assert.ok(lines.some((l) => /^INVALID_ARGUMENT reason=[A-Z_]+ domain=agentsessions$/.test(l)), stdout);
    assert.ok(lines.includes("  field session.display_name: must not be empty"), stdout);
    assert.match(lines[lines.length - 1], /^deleted agents\//);
  } finally {
    await server.stop();
  }
});
