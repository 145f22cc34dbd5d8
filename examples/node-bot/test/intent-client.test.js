// The client against the real server (INTENT_SERVER), and against a stub server built from
// the same proto for what the real test server does not check (token, deadline, settings).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  DEFAULT_DEADLINE_MS,
  DEFAULT_PROTO,
  DEFAULT_SERVER,
  IntentClient,
  grpc,
  loadIntentApi,
  settingsFromEnv,
} from "../intent-client.js";
import { NEEDS_SERVER, SERVER } from "./helpers.js";

describe("against a running intent-server", { skip: NEEDS_SERVER }, () => {
  let client;
  before(() => (client = new IntentClient({ ...settingsFromEnv(), server: SERVER })));
  after(() => client?.close());

  test("a greeting is the greeting intent, in scope", async () => {
    const result = await client.classify("hello there");
    assert.equal(result.intent.name, "greeting");
    assert.equal(result.out_of_scope, false);
    assert.equal(result.out_of_scope_reason, "OUT_OF_SCOPE_REASON_UNSPECIFIED");
    assert.equal(result.ranking[0].name, "greeting");
    assert.ok(result.intent.confidence > 0.5, `confidence ${result.intent.confidence}`);
    assert.equal(typeof result.familiarity, "number");
    assert.match(result.model_version, /\S/);
  });

  test("in-scope requests get their intents", async () => {
    const expected = {
      "book me a flight to tokyo": "book_flight",
      "wake me up at 6:30 tomorrow": "set_alarm",
      "get me a cab to the station": "order_taxi",
    };
    for (const [text, intent] of Object.entries(expected)) {
      const result = await client.classify(text, { topK: 3 });
      assert.equal(result.intent.name, intent, text);
      assert.equal(result.ranking.length, 3);
    }
  });

  test("an unrelated question is out of scope, with a reason", async () => {
    const result = await client.classify("what is the boiling point of mercury in kelvin");
    assert.equal(result.out_of_scope, true);
    assert.equal(result.intent.name, "out_of_scope");
    assert.match(result.out_of_scope_reason, /^OUT_OF_SCOPE_REASON_(?!UNSPECIFIED)/);
  });

  test("empty text is INVALID_ARGUMENT with the server's message", async () => {
    await assert.rejects(client.classify(""), (err) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, /text is empty/);
      return true;
    });
  });

  test("model info lists the example bot's intents", async () => {
    const info = await client.modelInfo();
    assert.ok(info.labels.includes("greeting") && info.labels.includes("out_of_scope"));
  });
});

describe("settings and call options", () => {
  test("defaults, and every environment variable", () => {
    assert.deepEqual(settingsFromEnv({}), {
      server: DEFAULT_SERVER,
      token: "",
      tlsCa: "",
      deadlineMs: DEFAULT_DEADLINE_MS,
      proto: DEFAULT_PROTO,
    });
    const env = {
      INTENT_SERVER: "intent:443",
      INTENT_TOKEN: "t0ken",
      INTENT_TLS_CA: "/etc/ca.pem",
      INTENT_DEADLINE_MS: "250",
      INTENT_PROTO: "/x/intent.proto",
    };
    assert.deepEqual(settingsFromEnv(env), {
      server: "intent:443",
      token: "t0ken",
      tlsCa: "/etc/ca.pem",
      deadlineMs: 250,
      proto: "/x/intent.proto",
    });
  });

  test("sends the bearer token and a deadline", async () => {
    const seen = [];
    const server = new grpc.Server();
    server.addService(loadIntentApi().IntentClassifier.service, {
      ClassifyIntent(call, callback) {
        seen.push({ auth: call.metadata.get("authorization"), deadline: call.getDeadline() });
        callback(null, { intent: { name: "greeting", confidence: 0.9 } });
      },
    });
    const port = await new Promise((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    const client = new IntentClient({
      ...settingsFromEnv({}),
      server: `127.0.0.1:${port}`,
      token: "t0ken",
      deadlineMs: 3000,
    });
    try {
      const result = await client.classify("hi");
      assert.equal(result.intent.name, "greeting");
      assert.equal(result.familiarity, undefined); // optional and not sent: absent
      assert.deepEqual(seen[0].auth, ["Bearer t0ken"]);
      const left = new Date(seen[0].deadline).getTime() - Date.now();
      assert.ok(left > 0 && left <= 3000, `deadline in ${left} ms`);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
