// A small client for intent-server's `intent.v1.IntentClassifier`, built from the .proto at
// run time (no generated code).
//
// Messages keep the proto's snake_case field names (`out_of_scope`, `model_version`), as in
// the Python client and the proto itself; enums are their names as strings
// ("OUT_OF_SCOPE_REASON_UNFAMILIAR"); unset fields are filled with their defaults (false, "",
// 0, [], null for a message), except `optional` ones such as `familiarity`: absent (undefined)
// when the server did not send them, a number (0 included) when it did.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

export const DEFAULT_PROTO = fileURLToPath(
  new URL("../../protos/intent_server/proto/intent.proto", import.meta.url),
);
export const DEFAULT_SERVER = "127.0.0.1:50051";
export const DEFAULT_DEADLINE_MS = 5000;

const LOADER_OPTIONS = {
  keepCase: true, // snake_case, as in the proto
  enums: String,
  longs: String, // no int64 in the API today; strings would keep one exact
  defaults: true, // unset scalars and lists as "", 0, false, []; `optional` ones stay absent
};

/** Settings from the environment: INTENT_SERVER, INTENT_TOKEN, INTENT_TLS_CA,
 * INTENT_DEADLINE_MS, INTENT_PROTO. */
export function settingsFromEnv(env = process.env) {
  return {
    server: env.INTENT_SERVER || DEFAULT_SERVER,
    token: env.INTENT_TOKEN || "",
    tlsCa: env.INTENT_TLS_CA || "",
    deadlineMs: Number(env.INTENT_DEADLINE_MS) || DEFAULT_DEADLINE_MS,
    proto: env.INTENT_PROTO || DEFAULT_PROTO,
  };
}

/** The `intent.v1` package loaded from `protoPath`. */
export function loadIntentApi(protoPath = DEFAULT_PROTO) {
  const definition = protoLoader.loadSync(protoPath, LOADER_OPTIONS);
  return grpc.loadPackageDefinition(definition).intent.v1;
}

export class IntentClient {
  constructor(settings = settingsFromEnv()) {
    const { IntentClassifier } = loadIntentApi(settings.proto);
    const credentials = settings.tlsCa
      ? grpc.credentials.createSsl(readFileSync(settings.tlsCa))
      : grpc.credentials.createInsecure();
    this.settings = settings;
    this.stub = new IntentClassifier(settings.server, credentials);
  }

  /** Classify one message: resolves to the ClassifyIntentResponse, rejects with a gRPC error
   * (`err.code` is a `grpc.status` value, `err.details` the server's message). */
  classify(text, { topK = 0, model = "" } = {}) {
    return this.#call("ClassifyIntent", { text, top_k: topK, model });
  }

  /** Labels, version, thresholds and limits of the (default) model. */
  modelInfo(model = "") {
    return this.#call("GetModelInfo", { model });
  }

  close() {
    this.stub.close();
  }

  #call(method, request) {
    // A bearer token goes in per-call metadata rather than in call credentials, which
    // grpc-js only sends over TLS: a token also works against a plaintext dev server.
    const metadata = new grpc.Metadata();
    if (this.settings.token) metadata.set("authorization", `Bearer ${this.settings.token}`);
    const deadline = new Date(Date.now() + this.settings.deadlineMs);
    return new Promise((resolve, reject) => {
      this.stub[method](request, metadata, { deadline }, (err, response) =>
        err ? reject(err) : resolve(response),
      );
    });
  }
}

export { grpc };
