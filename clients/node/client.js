// @ts-check
/**
 * A small Node.js client of agentsessions.v1: loads the contract from protos/
 * with @grpc/proto-loader, returns promises for unary calls and async
 * iterables for SendMessage and StreamRunEvents, and rejects with
 * AgentSessionsError.
 *
 * Fields are camelCase (`displayName`), int64 values are decimal strings,
 * enums are their names, and a oneof's set field is named by a virtual field
 * of the oneof's name (`event: "textDelta"`).
 */
"use strict";

const { randomUUID } = require("node:crypto");
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
/**
 * Each RPC's default deadline in milliseconds, from the start of the call; `timeoutMs` in a
 * call's options overrides it. RPCs not listed get DEFAULT_TIMEOUT_MS.
 * @type {Readonly<Record<string, number>>}
 */
const METHOD_TIMEOUTS_MS = Object.freeze({
  // A run may call a model many times; its stream gets a longer deadline.
  SendMessage: 600_000,
  // Follows a run to its end, as SendMessage does.
  StreamRunEvents: 600_000,
  // A model may take a while to write a summary.
  CompactSession: 120_000,
  // Waits for the run to end: at once for IMMEDIATE, after a model turn for AFTER_TURN.
  CancelRun: 120_000,
});
const DEFAULT_TIMEOUT_MS = 30_000;

/** The enum names the contract uses for the client's lower-case option values. */
const DISCONNECT_POLICIES = Object.freeze({ cancel: "CANCEL", continue: "CONTINUE" });
const CANCEL_MODES = Object.freeze({ immediate: "IMMEDIATE", afterTurn: "AFTER_TURN" });
const BUSY_POLICIES = Object.freeze({
  reject: "REJECT",
  wait: "WAIT",
  interrupt: "INTERRUPT",
  enqueue: "ENQUEUE",
});
/** SendMessage's request fields that its options may give (onDisconnect is translated). */
const SEND_MESSAGE_OPTION_FIELDS = /** @type {const} */ ([
  "inputItemsJson",
  "waitIfBusy",
  "maxTurns",
  "requestId",
  "afterSequence",
]);

/**
 * The contract's enum name for an option value: the client's spelling ("afterTurn") or the
 * contract's own ("AFTER_TURN"); a mistyped value throws rather than reaching the server.
 * @param {string} option
 * @param {Readonly<Record<string, string>>} names
 * @param {unknown} value
 * @returns {string | undefined}
 */
function enumName(option, names, value) {
  if (value === undefined || value === null || value === "") {
    return undefined;
  }
  if (typeof value === "string" && Object.hasOwn(names, value)) {
    return names[value];
  }
  if (typeof value === "string" && Object.values(names).includes(value)) {
    return value;
  }
  const allowed = Object.keys(names).map((name) => JSON.stringify(name));
  throw new TypeError(`${option} must be ${allowed.join(" or ")}, not ${JSON.stringify(value)}`);
}

/**
 * A resource name: the name itself, or the `name` of a resource (a Session, a Run) or request.
 * @param {string | {name?: string | null}} resource
 * @returns {string}
 */
function nameOf(resource) {
  return typeof resource === "string" ? resource : (resource?.name ?? "");
}

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

/**
 * The deadline of a call: its `timeoutMs`, or the RPC's default.
 * @param {string} method
 * @param {import("./index").CallOptions} options
 * @returns {number}
 */
function deadlineFor(method, options) {
  return Date.now() + (options.timeoutMs ?? METHOD_TIMEOUTS_MS[method] ?? DEFAULT_TIMEOUT_MS);
}

/** @typedef {import("./index").Request<import("./index").SendMessageRequest>} SendMessageRequest */

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
    const deadline = deadlineFor(method, options);
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
    return this.unary(this.sessionService, "CompactSession", request, options);
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
   * Starts a run of the session's agent, or joins the run its requestId started, and yields
   * its events. Called as (session, text, options) or (request, options); a requestId is
   * generated when none is given, and the returned stream carries it as `requestId`.
   * @param {string | {name: string} | SendMessageRequest} sessionOrRequest
   * @param {string | import("./index").SendMessageOptions} [textOrOptions]
   * @param {import("./index").SendMessageOptions} [maybeOptions]
   * @returns {import("./index").SendMessageStream}
   */
  sendMessage(sessionOrRequest, textOrOptions, maybeOptions) {
    const options = (typeof textOrOptions === "string" ? maybeOptions : textOrOptions) ?? {};
    /** @type {Record<string, unknown>} */
    const request =
      typeof textOrOptions === "string" || typeof sessionOrRequest === "string"
        ? { session: nameOf(/** @type {string | {name: string}} */ (sessionOrRequest)) }
        : { ...sessionOrRequest };
    if (typeof textOrOptions === "string") {
      request.text = textOrOptions;
    }
    for (const field of SEND_MESSAGE_OPTION_FIELDS) {
      if (options[field] !== undefined) {
        request[field] = options[field];
      }
    }
    const onDisconnect = options.onDisconnect ?? request.onDisconnect;
    request.onDisconnect =
      enumName("onDisconnect", DISCONNECT_POLICIES, onDisconnect) ?? DISCONNECT_POLICIES.cancel;
    const busyPolicy = options.busyPolicy ?? request.busyPolicy;
    if (busyPolicy !== undefined) {
      request.busyPolicy = enumName("busyPolicy", BUSY_POLICIES, busyPolicy);
    }
    const requestId = /** @type {string | undefined} */ (request.requestId) || randomUUID();
    request.requestId = requestId;
    return Object.assign(this.follow("SendMessage", request, options), { requestId });
  }

  /**
   * Yields a run's stored events after `afterSequence`, then its live ones until its terminal
   * event. Breaking out of the loop stops following; the run goes on.
   * @type {import("./index").AgentSessionsClient["streamRunEvents"]}
   */
  streamRunEvents(run, options = {}) {
    const afterSequence =
      options.afterSequence ?? (typeof run === "string" ? undefined : run.afterSequence);
    const request = { name: nameOf(run), afterSequence: afterSequence ?? 0 };
    return this.follow("StreamRunEvents", request, options);
  }

  /**
   * Cancels a run, waits within the call's deadline for it to end, and resolves to it as it
   * is then: ended, or still RUNNING with its cancelMode set when the deadline came first (the
   * cancellation stands). A run that had already ended is returned unchanged. `mode`:
   * "immediate" (the default) or "afterTurn".
   * @type {import("./index").AgentSessionsClient["cancelRun"]}
   */
  async cancelRun(run, options = {}) {
    const mode = options.mode ?? (typeof run === "string" ? undefined : run.mode);
    const request = {
      name: nameOf(run),
      mode: enumName("mode", CANCEL_MODES, mode) ?? CANCEL_MODES.immediate,
    };
    return this.unary(this.sessionService, "CancelRun", request, options);
  }

  /**
   * Decides tool calls a run waits on (state REQUIRES_APPROVAL) and resolves to the run. Once
   * no call waits, the run goes on; its stream, or streamRunEvents, carries the rest. A call
   * decided before fails with FAILED_PRECONDITION (reason ALREADY_DECIDED); the requestId
   * (generated when not given) makes a retry of the same decisions safe.
   * @type {import("./index").AgentSessionsClient["resolveApprovals"]}
   */
  async resolveApprovals(run, decisions, options = {}) {
    const request = {
      name: nameOf(run),
      decisions: [
        ...(decisions.approve ?? []).map((callId) => ({ callId, decision: "APPROVE" })),
        ...Object.entries(decisions.reject ?? {}).map(([callId, message]) => ({
          callId,
          decision: "REJECT",
          message,
        })),
      ],
      requestId: options.requestId ?? randomUUID(),
    };
    return this.unary(this.sessionService, "ResolveApprovals", request, options);
  }

  /**
   * Calls a server-streaming RPC of run events and yields them; leaving the loop early
   * cancels the call.
   * @param {string} method
   * @param {object} request
   * @param {import("./index").CallOptions} options
   * @returns {AsyncGenerator<import("./index").SendMessageResponse, void, undefined>}
   */
  async *follow(method, request, options) {
    const deadline = deadlineFor(method, options);
    const call = this.sessionService[method](request, this.metadataFor(options), { deadline });
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
  DEFAULT_TIMEOUT_MS,
  METHOD_TIMEOUTS_MS,
  PROTOS_DIR,
  GOOGLEAPIS_DIR,
  decodeStatus,
  loadContract,
  status: grpc.status,
  Metadata: grpc.Metadata,
};
