// @ts-check
/**
 * Errors of the agentsessions client: the google.rpc.Status that a failed call
 * carries in its `grpc-status-details-bin` trailer, decoded with its
 * ErrorInfo and BadRequest details.
 */
"use strict";

const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protobuf = require("protobufjs");

/** The pinned copy of the Google protos that describe google.rpc.Status and its details. */
const GOOGLEAPIS_DIR = path.resolve(__dirname, "..", "..", "third_party", "googleapis");
const STATUS_DETAILS_KEY = "grpc-status-details-bin";
const ERROR_INFO = "google.rpc.ErrorInfo";
const BAD_REQUEST = "google.rpc.BadRequest";
const CONVERSION = { longs: String, enums: String, defaults: true };

/** @type {protobuf.Root | undefined} */
let rpcRoot;

/** Loads google/rpc once; google/protobuf/any.proto and friends come bundled with protobufjs. */
function rpcTypes() {
  if (rpcRoot === undefined) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) =>
      path.isAbsolute(target) ? target : path.join(GOOGLEAPIS_DIR, target);
    root.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"]);
    rpcRoot = root;
  }
  return rpcRoot;
}

/**
 * Unpacks one `google.protobuf.Any` detail; unknown types keep their raw bytes.
 * @param {{type_url: string, value: Uint8Array}} any
 * @returns {import("./index").StatusDetail}
 */
function unpack(any) {
  // protobufjs bundles google/protobuf/any.proto with its original snake_case field names.
  const typeName = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);
  const type = rpcTypes().lookup(typeName);
  if (!(type instanceof protobuf.Type)) {
    return { typeName, value: null, raw: Buffer.from(any.value) };
  }
  return { typeName, value: type.toObject(type.decode(any.value), CONVERSION), raw: null };
}

/**
 * Decodes the google.rpc.Status of a failed call's trailers, or null when it has none.
 * @param {grpc.Metadata | undefined} metadata
 * @returns {import("./index").RpcStatus | null}
 */
function decodeStatus(metadata) {
  const values = metadata ? metadata.get(STATUS_DETAILS_KEY) : [];
  if (values.length === 0 || typeof values[0] === "string") {
    return null;
  }
  const Status = rpcTypes().lookupType("google.rpc.Status");
  const status = /** @type {{code: number, message: string, details: any[]}} */ (
    Status.toObject(Status.decode(values[0]), { ...CONVERSION, enums: Number, bytes: Buffer })
  );
  return { code: status.code, message: status.message, details: status.details.map(unpack) };
}

/** A failed call, with the reason and field violations of its status details. */
class AgentSessionsError extends Error {
  /**
   * @param {grpc.ServiceError} error the error grpc-js gave
   */
  constructor(error) {
    const status = decodeStatus(error.metadata);
    super(error.details || error.message, { cause: error });
    this.name = "AgentSessionsError";
    /** The gRPC status code, e.g. 3 for INVALID_ARGUMENT. */
    this.code = error.code;
    /** The code's name, e.g. "INVALID_ARGUMENT". */
    this.codeName = grpc.status[error.code] ?? String(error.code);
    /** Every detail of the status, decoded where the type is known. */
    this.statusDetails = status ? status.details : [];
    const info = this.statusDetails.find((d) => d.typeName === ERROR_INFO)?.value;
    const badRequest = this.statusDetails.find((d) => d.typeName === BAD_REQUEST)?.value;
    /** ErrorInfo.reason in UPPER_SNAKE_CASE, e.g. "SESSION_BUSY"; "" without an ErrorInfo. */
    this.reason = info ? String(info.reason) : "";
    /** ErrorInfo.domain, "agentsessions" for the service's own errors. */
    this.domain = info ? String(info.domain) : "";
    /** @type {Record<string, string>} ErrorInfo.metadata. */
    this.errorMetadata = info ? info.metadata : {};
    /** @type {import("./index").FieldViolation[]} BadRequest.field_violations. */
    this.fieldViolations = badRequest ? badRequest.fieldViolations : [];
  }
}

/**
 * Wraps what grpc-js rejected with; anything that is not a call's error passes through.
 * @param {unknown} error
 * @returns {unknown}
 */
function toAgentSessionsError(error) {
  const candidate = /** @type {Partial<grpc.ServiceError>} */ (error);
  if (error instanceof Error && typeof candidate.code === "number" && candidate.metadata) {
    return new AgentSessionsError(/** @type {grpc.ServiceError} */ (error));
  }
  return error;
}

module.exports = {
  AgentSessionsError,
  GOOGLEAPIS_DIR,
  STATUS_DETAILS_KEY,
  decodeStatus,
  toAgentSessionsError,
};
