// @ts-check
/** Starts a real agentsessions server (`agentsessions serve --port 0`) with a temporary database. */
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");

const REPO = path.resolve(__dirname, "..", "..", "..");
const CLI = process.env.AGENTSESSIONS_CLI ?? path.join(REPO, ".venv", "bin", "agentsessions");
const START_TIMEOUT_MS = 60_000;
// The server prints this line once it listens; with --port 0 it names the port it got.
const LISTENING = /agentsessions listening on (\S+):(\d+)/;

/**
 * @typedef {object} RunningServer
 * @property {string} address host:port to connect to
 * @property {() => Promise<void>} stop SIGTERM, then wait for the process to exit
 * @property {() => string} log what the server wrote to stdout and stderr so far
 */

/**
 * @param {{env?: Record<string, string>}} [options] `env`: settings for this server, e.g.
 *   `{AGENTSESSIONS_EVENT_RETENTION_SECONDS: "1"}`, over the environment of the tests
 * @returns {Promise<RunningServer>}
 */
async function startServer(options = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "agentsessions-node-"));
  const child = spawn(CLI, ["serve", "--host", "127.0.0.1", "--port", "0", "--db", path.join(dir, "test.db")], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
  });
  let output = "";
  child.stderr.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
    }
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const address = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in time:\n${output}`)), START_TIMEOUT_MS);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening:\n${output}`));
    });
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      output += `${line}\n`;
      const match = LISTENING.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(`${match[1]}:${match[2]}`);
      }
    });
  }).catch(async (error) => {
    await stop();
    throw error;
  });
  return { address, stop, log: () => output };
}

module.exports = { startServer, REPO };
