// @ts-check
/**
 * A small Node.js client of agentsessions.v1: loads the contract from protos/
 * with @grpc/proto-loader, returns promises for unary calls and an async
 * iterable for SendMessage, and rejects with AgentSessionsError.
 *
 * Fields are camelCase (`displayName`), int64 values are decimal strings,
 * enums are their names, and a oneof's set field is named by a virtual field
 * of the oneof's name (`event: "textDelta"`).
 */
"use strict";

const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const {
  AgentSessionsError,
  GOOGLEAPIS_DIR,
  decodeStatus,
  toAgentSessionsError,
} = require("./status");

const PROTOS_DIR = path.resolve(__dirname, "..", "..", "protos");
const CONTRACT_FILES = ["agentsessions/v1/agent.proto", "agentsessions/v1/session_service.proto"];
const DEFAULT_TIMEOUT_MS = 30_000;
// A run may call a model many times; its stream gets a longer default deadline.
const DEFAULT_STREAM_TIMEOUT_MS = 600_000;
// A model may take a while to write a summary.
const DEFAULT_COMPACT_TIMEOUT_MS = 120_000;

/**
 * Loads the agentsessions.v1 services.
 * @param {string[]} [includeDirs] where agentsessions/v1 and google/api are found
 * @returns {{AgentService: grpc.ServiceClientConstructor, SessionService: grpc.ServiceClientConstructor}}
 */
function loadContract(includeDirs = [PROTOS_DIR, GOOGLEAPIS_DIR]) {
  const definition = protoLoader.loadSync(CONTRACT_FILES, {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs,
  });
  const loaded = /** @type {any} */ (grpc.loadPackageDefinition(definition));
  return loaded.agentsessions.v1;
}

class AgentSessionsClient {
  /**
   * @param {string} address host:port of the server, e.g. "127.0.0.1:50051"
   * @param {import("./index").ClientOptions} [options]
   */
  constructor(address, options = {}) {
    const contract = loadContract(options.includeDirs);
    const credentials = options.credentials ?? grpc.credentials.createInsecure();
    // Both services share one channel, as generated clients in other languages do.
    this.channel = new grpc.Channel(address, credentials, options.channelOptions ?? {});
    const shared = { channelOverride: this.channel };
    /** @type {any} */
    this.agentService = new contract.AgentService(address, credentials, shared);
    /** @type {any} */
    this.sessionService = new contract.SessionService(address, credentials, shared);
    this.defaultMetadata = options.metadata;
  }

  /**
   * @param {any} service
   * @param {string} method
   * @param {object} request
   * @param {import("./index").CallOptions} [options]
   * @returns {Promise<any>}
   */
  unary(service, method, request, options = {}) {
    const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const metadata = this.metadataFor(options);
    return new Promise((resolve, reject) => {
      /** @type {(error: grpc.ServiceError | null, response: unknown) => void} */
      const done = (error, response) => {
        if (error) {
          reject(toAgentSessionsError(error));
        } else {
          resolve(response);
        }
      };
      service[method](request, metadata, { deadline }, done);
    });
  }

  /**
   * @param {import("./index").CallOptions} options
   * @returns {grpc.Metadata}
   */
  metadataFor(options) {
    const metadata = this.defaultMetadata ? this.defaultMetadata.clone() : new grpc.Metadata();
    if (options.metadata) {
      metadata.merge(options.metadata);
    }
    return metadata;
  }

  /** @type {import("./index").AgentSessionsClient["createAgent"]} */
  createAgent(request, options) {
    return this.unary(this.agentService, "CreateAgent", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["getAgent"]} */
  getAgent(request, options) {
    return this.unary(this.agentService, "GetAgent", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["listAgents"]} */
  listAgents(request, options) {
    return this.unary(this.agentService, "ListAgents", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["updateAgent"]} */
  updateAgent(request, options) {
    return this.unary(this.agentService, "UpdateAgent", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["deleteAgent"]} */
  deleteAgent(request, options) {
    return this.unary(this.agentService, "DeleteAgent", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["createSession"]} */
  createSession(request, options) {
    return this.unary(this.sessionService, "CreateSession", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["getSession"]} */
  getSession(request, options) {
    return this.unary(this.sessionService, "GetSession", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["listSessions"]} */
  listSessions(request, options) {
    return this.unary(this.sessionService, "ListSessions", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["updateSession"]} */
  updateSession(request, options) {
    return this.unary(this.sessionService, "UpdateSession", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["deleteSession"]} */
  deleteSession(request, options) {
    return this.unary(this.sessionService, "DeleteSession", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["listItems"]} */
  listItems(request, options) {
    return this.unary(this.sessionService, "ListItems", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["addItems"]} */
  addItems(request, options) {
    return this.unary(this.sessionService, "AddItems", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["popItem"]} */
  popItem(request, options) {
    return this.unary(this.sessionService, "PopItem", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["clearSession"]} */
  clearSession(request, options) {
    return this.unary(this.sessionService, "ClearSession", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["compactSession"]} */
  compactSession(request, options) {
    const withDefault = { timeoutMs: DEFAULT_COMPACT_TIMEOUT_MS, ...options };
    return this.unary(this.sessionService, "CompactSession", request, withDefault);
  }

  /** @type {import("./index").AgentSessionsClient["batchDeleteSessions"]} */
  batchDeleteSessions(request, options) {
    return this.unary(this.sessionService, "BatchDeleteSessions", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["getRun"]} */
  getRun(request, options) {
    return this.unary(this.sessionService, "GetRun", request, options);
  }

  /** @type {import("./index").AgentSessionsClient["listRuns"]} */
  listRuns(request, options) {
    return this.unary(this.sessionService, "ListRuns", request, options);
  }

  /**
   * Runs the session's agent and yields its events; breaking out of the loop cancels the run.
   * @type {import("./index").AgentSessionsClient["sendMessage"]}
   */
  async *sendMessage(request, options = {}) {
    const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS);
    const call = this.sessionService.SendMessage(request, this.metadataFor(options), { deadline });
    try {
      for await (const event of call) {
        yield event;
      }
    } catch (error) {
      throw toAgentSessionsError(error);
    } finally {
      // A no-op once the stream has ended; otherwise the server sees the cancellation.
      call.cancel();
    }
  }

  /** Closes the channel; calls in flight fail with CANCELLED. */
  close() {
    this.channel.close();
  }
}

module.exports = {
  AgentSessionsClient,
  AgentSessionsError,
  PROTOS_DIR,
  GOOGLEAPIS_DIR,
  decodeStatus,
  loadContract,
  status: grpc.status,
  Metadata: grpc.Metadata,
};
