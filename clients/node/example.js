// @ts-check
/**
 * Example: create an agent and a session, stream a SendMessage reply, and read
 * the status details of a call that fails.
 *
 *   node example.js [host:port]    (default $AGENTSESSIONS_ADDRESS or 127.0.0.1:50051)
 */
"use strict";

const { AgentSessionsClient, AgentSessionsError } = require("./index");

/**
 * @param {string} address
 * @param {(line: string) => void} print
 */
async function main(address, print) {
  const client = new AgentSessionsClient(address);
  try {
    const agent = await client.createAgent({
      agent: { displayName: "Node example", instructions: "Answer briefly.", model: "echo" },
    });
    print(`created ${agent.name}`);

    const session = await client.createSession({
      parent: agent.name,
      session: { displayName: "Chat from Node", labels: { client: "node" } },
    });
    print(`created ${session.name}`);

    let reply = "";
    for await (const event of client.sendMessage({ session: session.name, text: "Hello from Node" })) {
      if (event.event === "textDelta" && event.textDelta) {
        reply += event.textDelta.delta;
      } else if (event.event === "runCompleted" && event.runCompleted) {
        const stats = event.runCompleted.sessionStats;
        print(`run completed: ${JSON.stringify(event.runCompleted.finalOutput)}`);
        print(`session now holds ${stats ? stats.itemCount : "?"} items`);
      } else if (event.event === "runFailed" && event.runFailed) {
        print(`run failed: ${event.runFailed.error?.message}`);
      } else {
        print(`event ${event.sequence}: ${event.event}`);
      }
    }
    print(`streamed reply: ${JSON.stringify(reply)}`);

    // An invalid request fails the call; the trailer carries a google.rpc.Status.
    try {
      await client.createSession({ parent: agent.name, session: { displayName: "" } });
    } catch (error) {
      if (!(error instanceof AgentSessionsError)) {
        throw error;
      }
      print(`${error.codeName} reason=${error.reason} domain=${error.domain}`);
      for (const violation of error.fieldViolations) {
        print(`  field ${violation.field}: ${violation.description}`);
      }
    }

    await client.deleteAgent({ name: agent.name, force: true });
    print(`deleted ${agent.name}`);
  } finally {
    client.close();
  }
}

if (require.main === module) {
  const address = process.argv[2] ?? process.env.AGENTSESSIONS_ADDRESS ?? "127.0.0.1:50051";
  main(address, console.log).catch((error) => {
    console.error(error instanceof AgentSessionsError ? `${error.codeName}: ${error.message}` : error);
    process.exitCode = 1;
  });
}

module.exports = { main };
