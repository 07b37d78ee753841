// Types of the agentsessions Node client (client.js, status.js). Messages are the shapes
// @grpc/proto-loader gives with {keepCase: false, longs: String, enums: String,
// defaults: true, oneofs: true}: camelCase fields, int64 as decimal strings,
// enums as names, unset message fields null. See docs/api.md for every field.

import type { ChannelCredentials, ChannelOptions, Metadata, ServiceClientConstructor, status } from "@grpc/grpc-js";

/** A google.protobuf.Timestamp; `seconds` is an int64 as a string. */
export interface Timestamp {
  seconds: string;
  nanos: number;
}

/** A google.protobuf.FieldMask. */
export interface FieldMask {
  paths: string[];
}

/** A request: any field may be left out and takes its default. */
export type Request<T> = { [K in keyof T]?: T[K] extends object ? Request<T[K]> | null : T[K] };

export interface ModelSettings {
  temperature?: number;
  topP?: number;
  maxOutputTokens?: number;
}

export interface HistoryPolicy {
  maxItems: number;
}

/** A stored agent, `agents/{agent}`. */
export interface Agent {
  name: string;
  displayName: string;
  instructions: string;
  model: string;
  modelSettings: ModelSettings | null;
  tools: string[];
  handoffs: string[];
  historyPolicy: HistoryPolicy | null;
  createTime: Timestamp | null;
  updateTime: Timestamp | null;
  etag: string;
  description: string;
}

export type SessionState = "STATE_UNSPECIFIED" | "ACTIVE" | "PAUSED" | "COMPLETED";

export interface SessionStats {
  itemCount: string;
  messageCount: string;
  functionCallCount: string;
  inputTokens: string;
  outputTokens: string;
  totalTokens: string;
  runCount: string;
}

/** A session, `agents/{agent}/sessions/{session}`. */
export interface Session {
  name: string;
  displayName: string;
  state: SessionState;
  labels: Record<string, string>;
  createTime: Timestamp | null;
  updateTime: Timestamp | null;
  lastActivityTime: Timestamp | null;
  expireTime: Timestamp | null;
  stats: SessionStats | null;
  etag: string;
}

/** One entry of a session's history. */
export interface Item {
  name: string;
  sequence: string;
  type: string;
  role: string;
  text: string;
  itemJson: string;
  runId: string;
  createTime: Timestamp | null;
}

export interface Usage {
  requests: string;
  inputTokens: string;
  outputTokens: string;
  totalTokens: string;
}

/** A google.rpc.Status as a message field (RunFailed.error, Run.error). */
export interface StatusMessage {
  code: number;
  message: string;
  details: { typeUrl: string; value: Buffer }[];
}

export type RunState =
  | "STATE_UNSPECIFIED"
  | "RUNNING"
  | "COMPLETED"
  | "FAILED"
  | "CANCELLED"
  | "QUEUED"
  | "REQUIRES_APPROVAL";

/** ToolApproval.Decision: what was decided on a call that needed approval. */
export type ApprovalDecisionValue = "DECISION_UNSPECIFIED" | "APPROVE" | "REJECT";

/** A tool call that waits, or waited, for a person's approval, and its decision. */
export interface ToolApproval {
  callId: string;
  toolName: string;
  argumentsJson: string;
  decision: ApprovalDecisionValue;
  /** The message given with a rejection, which the model receives. */
  message: string;
  decideTime: Timestamp | null;
  requestId: string;
  /** The caller's address as the server saw it. */
  decidedBy: string;
}

/** Run.CancelMode: how a run is cancelled. */
export type CancelMode = "CANCEL_MODE_UNSPECIFIED" | "IMMEDIATE" | "AFTER_TURN";

/** Run.DisconnectPolicy: what a run does when the SendMessage call that started it ends first. */
export type DisconnectPolicy = "DISCONNECT_POLICY_UNSPECIFIED" | "CANCEL" | "CONTINUE";

/** A run, `agents/{agent}/sessions/{session}/runs/{run}`. */
export interface Run {
  name: string;
  state: RunState;
  usage: Usage | null;
  error: StatusMessage | null;
  startTime: Timestamp | null;
  endTime: Timestamp | null;
  lastAgent: string;
  /** The requestId of the SendMessage that started the run; "" when it had none. */
  requestId: string;
  onDisconnect: DisconnectPolicy;
  /** The sequence of the run's newest event; the terminal event's once the run has ended. */
  lastEventSequence: string;
  /** "CANCEL_MODE_UNSPECIFIED" when cancellation was never asked for. */
  cancelMode: CancelMode;
  /** "cancelled by CancelRun", "the caller disconnected" or "the server is stopping"; "" otherwise. */
  cancelReason: string;
  /** When the run's events will be deleted; set once the run has ended. */
  eventsExpireTime: Timestamp | null;
  /** Tool calls that needed approval, with their decisions. */
  approvals: ToolApproval[];
  /** While REQUIRES_APPROVAL: when the run is cancelled if calls are still undecided. */
  approvalExpireTime: Timestamp | null;
  /** While QUEUED: its place in the session's queue, 1 for the next to start (GetRun). */
  queuePosition: number;
}

/** The run waits in its session's queue (busyPolicy "enqueue"); its first event. */
export interface RunQueued {
  run: string;
  position: number;
}

export interface RunStarted {
  run: string;
  agent: string;
  inputItems: Item[];
}
export interface TextDelta {
  delta: string;
  agent: string;
}
export interface MessageCompleted {
  item: Item | null;
  agent: string;
}
export interface ToolCalled {
  callId: string;
  toolName: string;
  argumentsJson: string;
  item: Item | null;
}
export interface ToolOutput {
  callId: string;
  output: string;
  item: Item | null;
}
export interface AgentUpdated {
  fromAgent: string;
  toAgent: string;
}
export interface ApprovalRequired {
  callId: string;
  toolName: string;
  argumentsJson: string;
  /** The run that waits: decide with resolveApprovals. */
  run: string;
  approvalExpireTime: Timestamp | null;
}
export interface RunCompleted {
  run: Run | null;
  finalOutput: string;
  usage: Usage | null;
  sessionStats: SessionStats | null;
}
export interface RunFailed {
  run: Run | null;
  error: StatusMessage | null;
  sessionStats: SessionStats | null;
}
export interface RunCancelled {
  run: Run | null;
  reason: string;
}

/** One event of a run, from SendMessage or StreamRunEvents; `event` names the field that is set. */
export interface SendMessageResponse {
  sequence: string;
  eventTime: Timestamp | null;
  event:
    | "runStarted"
    | "textDelta"
    | "messageCompleted"
    | "toolCalled"
    | "toolOutput"
    | "agentUpdated"
    | "approvalRequired"
    | "runQueued"
    | "runCompleted"
    | "runFailed"
    | "runCancelled";
  runStarted?: RunStarted | null;
  textDelta?: TextDelta | null;
  messageCompleted?: MessageCompleted | null;
  toolCalled?: ToolCalled | null;
  toolOutput?: ToolOutput | null;
  agentUpdated?: AgentUpdated | null;
  approvalRequired?: ApprovalRequired | null;
  runQueued?: RunQueued | null;
  runCompleted?: RunCompleted | null;
  runFailed?: RunFailed | null;
  runCancelled?: RunCancelled | null;
}

export interface CreateAgentRequest {
  agent: Agent;
  agentId: string;
  requestId: string;
}
export interface GetAgentRequest {
  name: string;
}
export interface ListAgentsRequest {
  pageSize: number;
  pageToken: string;
}
export interface ListAgentsResponse {
  agents: Agent[];
  nextPageToken: string;
}
export interface UpdateAgentRequest {
  agent: Agent;
  updateMask: FieldMask;
}
export interface DeleteAgentRequest {
  name: string;
  force: boolean;
  etag: string;
}
export interface CreateSessionRequest {
  parent: string;
  session: Session;
  sessionId: string;
  requestId: string;
}
export interface GetSessionRequest {
  name: string;
}
export interface ListSessionsRequest {
  parent: string;
  pageSize: number;
  pageToken: string;
  filter: string;
  orderBy: string;
}
export interface ListSessionsResponse {
  sessions: Session[];
  nextPageToken: string;
}
export interface UpdateSessionRequest {
  session: Session;
  updateMask: FieldMask;
}
export interface DeleteSessionRequest {
  name: string;
  etag: string;
}
export interface SendMessageRequest {
  session: string;
  text: string;
  inputItemsJson: string;
  waitIfBusy: boolean;
  maxTurns: number;
  /** A UUID; the same id and input join the run it started instead of starting another. */
  requestId: string;
  /** "cancel" (the default) or "continue"; the contract's "CANCEL" and "CONTINUE" work too. */
  onDisconnect: DisconnectOption;
  /** When joining a run by requestId, only the events with a greater sequence. */
  afterSequence: string | number;
  /** What to do when another run holds the session; unset: reject (or wait with waitIfBusy). */
  busyPolicy: BusyPolicyOption;
}
/** Request for StreamRunEvents. */
export interface StreamRunEventsRequest {
  /** The run, `agents/{agent}/sessions/{session}/runs/{run}`. */
  name: string;
  /** Only the events with a greater sequence; 0 (the default) streams them all. */
  afterSequence: string | number;
}
/** Request for CancelRun. */
export interface CancelRunRequest {
  /** The run, `agents/{agent}/sessions/{session}/runs/{run}`. */
  name: string;
  /** "immediate" (the default) or "afterTurn"; the contract's "IMMEDIATE" and "AFTER_TURN" work too. */
  mode: CancelModeOption;
}
export interface ListItemsRequest {
  parent: string;
  pageSize: number;
  pageToken: string;
  afterSequence: string | number;
  newestCount: number;
}
export interface ListItemsResponse {
  items: Item[];
  nextPageToken: string;
}
export interface AddItemsRequest {
  parent: string;
  items: Item[];
  /**
   * A UUID (e.g. crypto.randomUUID()) that makes a retry safe: the same id and items again
   * store nothing and return the first reply; the same id with other items is
   * INVALID_ARGUMENT (REQUEST_ID_REUSED). Pass the same id when you retry.
   */
  requestId: string;
}
export interface AddItemsResponse {
  /** The stored items' name, sequence, type, role and createTime; itemJson and text are "". */
  items: Item[];
}
export interface PopItemRequest {
  parent: string;
}
export interface PopItemResponse {
  item: Item | null;
}
export interface ClearSessionRequest {
  name: string;
}
export interface ClearSessionResponse {
  deletedItemCount: string;
}
export interface CompactSessionRequest {
  name: string;
  /** Newest items kept as they are, 0 to 100000; leave out for the default, 20. */
  keepNewestCount?: number | null;
  /** The summary; empty: the session's agent's model writes it. */
  summaryText: string;
  waitIfBusy: boolean;
}
export interface CompactSessionResponse {
  session: Session | null;
  removedItemCount: string;
  /** Item 1 of the compacted history; null when there was nothing to compact. */
  summaryItem: Item | null;
  usage: Usage | null;
}
export interface BatchDeleteSessionsRequest {
  /** `agents/{agent}` or `agents/-`; every name must be under it. */
  parent: string;
  /** 1 to 1000 session names, each once. */
  names: string[];
}
export interface GetRunRequest {
  name: string;
}
export interface ListRunsRequest {
  /** A session; `agents/{agent}/sessions/-` for every session of an agent; `agents/-/sessions/-` for every session. */
  parent: string;
  pageSize: number;
  pageToken: string;
  /** `state = STATE`, e.g. `state = REQUIRES_APPROVAL` for the runs waiting for a decision; "" for all. */
  filter: string;
}
export interface ListRunsResponse {
  runs: Run[];
  nextPageToken: string;
}

/** google.protobuf.Empty. */
export type Empty = Record<string, never>;

export interface ClientOptions {
  /** Default: insecure (plaintext), for a server on a trusted network. */
  credentials?: ChannelCredentials;
  channelOptions?: ChannelOptions;
  /** Sent with every call, e.g. credentials the server expects. */
  metadata?: Metadata;
  /** Where agentsessions/v1 and google/api are found; default: this repository's protos/ and third_party/googleapis. */
  includeDirs?: string[];
}

export interface CallOptions {
  /** Deadline from now; default: the RPC's entry in METHOD_TIMEOUTS_MS, else DEFAULT_TIMEOUT_MS (30 s). */
  timeoutMs?: number;
  /** Added to the client's metadata for this call. */
  metadata?: Metadata;
}

/** What happens to a run when its SendMessage call ends first: cancel it (the default) or let it go on. */
export type DisconnectOption = "cancel" | "continue" | "CANCEL" | "CONTINUE";

/** What SendMessage does when another run holds the session: fail, wait, or cancel that run. */
export type BusyPolicyOption =
  | "reject"
  | "wait"
  | "interrupt"
  | "enqueue"
  | "REJECT"
  | "WAIT"
  | "INTERRUPT"
  | "ENQUEUE";

/** How CancelRun stops a run: now (the default), or once the current model turn is stored. */
export type CancelModeOption = "immediate" | "afterTurn" | "IMMEDIATE" | "AFTER_TURN";

/** SendMessage's request fields besides the session and the text, and the call's options. */
export interface SendMessageOptions extends CallOptions {
  /** A UUID; default: a new one (crypto.randomUUID), which the returned stream's `requestId` gives. */
  requestId?: string;
  /** Default "cancel": leaving the loop or losing the connection cancels the run. */
  onDisconnect?: DisconnectOption;
  /** When joining a run by requestId, only the events with a greater sequence. */
  afterSequence?: string | number;
  inputItemsJson?: string;
  waitIfBusy?: boolean;
  maxTurns?: number;
  /** "reject", "wait", "interrupt" (cancel the run holding the session, then start) or "enqueue". */
  busyPolicy?: BusyPolicyOption;
}

export interface StreamRunEventsOptions extends CallOptions {
  /** Only the events with a greater sequence; default 0, every event. */
  afterSequence?: string | number;
}

/** Decisions on calls a run waits on, by call id. */
export interface ApprovalDecisions {
  /** Calls whose tools run. */
  approve?: string[];
  /** Calls whose tools do not run, each with the message the model receives ("" for a default). */
  reject?: Record<string, string>;
}

export interface ResolveApprovalsOptions extends CallOptions {
  /** A UUID that makes a retry safe; one is generated when not given. */
  requestId?: string;
}

export interface CancelRunOptions extends CallOptions {
  /** Default "immediate". */
  mode?: CancelModeOption;
}

/** A run's events in order; the last one is runCompleted, runFailed or runCancelled. */
export type RunEventStream = AsyncGenerator<SendMessageResponse, void, undefined>;

/** SendMessage's events, and the requestId that joins the same run again. */
export type SendMessageStream = RunEventStream & {
  /** The request's id: pass it again (with afterSequence) to follow the run after a lost connection. */
  readonly requestId: string;
};

type Unary<Req, Res> = (request: Request<Req>, options?: CallOptions) => Promise<Res>;

export class AgentSessionsClient {
  constructor(address: string, options?: ClientOptions);
  readonly channel: import("@grpc/grpc-js").Channel;
  createAgent: Unary<CreateAgentRequest, Agent>;
  getAgent: Unary<GetAgentRequest, Agent>;
  listAgents: Unary<ListAgentsRequest, ListAgentsResponse>;
  updateAgent: Unary<UpdateAgentRequest, Agent>;
  deleteAgent: Unary<DeleteAgentRequest, Empty>;
  createSession: Unary<CreateSessionRequest, Session>;
  getSession: Unary<GetSessionRequest, Session>;
  listSessions: Unary<ListSessionsRequest, ListSessionsResponse>;
  updateSession: Unary<UpdateSessionRequest, Session>;
  deleteSession: Unary<DeleteSessionRequest, Empty>;
  listItems: Unary<ListItemsRequest, ListItemsResponse>;
  addItems: Unary<AddItemsRequest, AddItemsResponse>;
  popItem: Unary<PopItemRequest, PopItemResponse>;
  clearSession: Unary<ClearSessionRequest, ClearSessionResponse>;
  /** Replaces all but the newest items by a summary; never retried. */
  compactSession: Unary<CompactSessionRequest, CompactSessionResponse>;
  /** Deletes several sessions, all or none. */
  batchDeleteSessions: Unary<BatchDeleteSessionsRequest, Empty>;
  getRun: Unary<GetRunRequest, Run>;
  listRuns: Unary<ListRunsRequest, ListRunsResponse>;
  /**
   * Starts a run of the session's agent (or joins the one its requestId started) and yields its
   * events. Breaking out of the loop cancels the run unless onDisconnect is "continue".
   */
  sendMessage: {
    (session: string | { name: string }, text: string, options?: SendMessageOptions): SendMessageStream;
    (request: Request<SendMessageRequest>, options?: SendMessageOptions): SendMessageStream;
  };
  /**
   * Yields a run's events after afterSequence, stored ones first, then live ones until its terminal
   * event; fails with OUT_OF_RANGE (reason EVENTS_EXPIRED) once they were deleted. Breaking out of
   * the loop stops following; the run goes on.
   */
  streamRunEvents(
    run: string | { name: string; afterSequence?: string | number },
    options?: StreamRunEventsOptions,
  ): RunEventStream;
  /**
   * Cancels a run, waits within the deadline for it to end, and resolves to it as it is then:
   * ended, or still RUNNING with cancelMode set when the deadline came first (the cancellation
   * stands). A run that had already ended is returned unchanged.
   */
  cancelRun(run: string | { name: string; mode?: CancelModeOption }, options?: CancelRunOptions): Promise<Run>;
  /**
   * Decides tool calls the run waits on and resolves to the run; once no call waits it goes on.
   * A call decided before fails with FAILED_PRECONDITION (reason ALREADY_DECIDED).
   */
  resolveApprovals(
    run: string | { name: string },
    decisions: ApprovalDecisions,
    options?: ResolveApprovalsOptions,
  ): Promise<Run>;
  /** Closes the channel. */
  close(): void;
}

/** One google.rpc.Status detail; `value` is null (and `raw` set) for a type this client does not know. */
export interface StatusDetail {
  typeName: string;
  value: Record<string, any> | null;
  raw: Buffer | null;
}

/** The google.rpc.Status of a failed call's `grpc-status-details-bin` trailer. */
export interface RpcStatus {
  code: number;
  message: string;
  details: StatusDetail[];
}

export interface FieldViolation {
  /** The request field, e.g. "session.display_name". */
  field: string;
  description: string;
  reason: string;
  localizedMessage: { locale: string; message: string } | null;
}

/** A failed call: its code, and the ErrorInfo and BadRequest of its status details. */
export class AgentSessionsError extends Error {
  constructor(error: import("@grpc/grpc-js").ServiceError);
  /** The gRPC status code, e.g. 3. */
  code: status;
  /** The code's name, e.g. "INVALID_ARGUMENT". */
  codeName: string;
  /** ErrorInfo.reason, e.g. "SESSION_BUSY"; "" without an ErrorInfo. */
  reason: string;
  /** ErrorInfo.domain: "agentsessions". */
  domain: string;
  errorMetadata: Record<string, string>;
  /** BadRequest.field_violations; empty unless INVALID_ARGUMENT. */
  fieldViolations: FieldViolation[];
  statusDetails: StatusDetail[];
}

/** Each RPC's default deadline in ms (SendMessage, StreamRunEvents, CompactSession, CancelRun). */
export const METHOD_TIMEOUTS_MS: Readonly<Record<string, number>>;
/** The default deadline of the other RPCs, 30 000 ms. */
export const DEFAULT_TIMEOUT_MS: number;
export const PROTOS_DIR: string;
export const GOOGLEAPIS_DIR: string;
export function decodeStatus(metadata: Metadata | undefined): RpcStatus | null;
export function loadContract(includeDirs?: string[]): {
  AgentService: ServiceClientConstructor;
  SessionService: ServiceClientConstructor;
};
export { status, Metadata } from "@grpc/grpc-js";
