#!/usr/bin/env node
// One Node.js client calling the server back to back, as a Node.js bot would (@grpc/grpc-js,
// the .proto loaded at run time): `node loadgen.mjs --target HOST:PORT --texts FILE.json
// --seconds S [--method classify|health]`. Prints one JSON object with every call's latency
// in ms. The packages come from examples/node-bot (run `npm ci` there first).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const require = createRequire(new URL("../../examples/node-bot/package.json", import.meta.url));
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const WARM_UP_CALLS = 10;
const protoPath = (relative) => fileURLToPath(new URL(relative, import.meta.url));

function stubs(target) {
  const definition = protoLoader.loadSync(
    [protoPath("../../protos/intent_server/proto/intent.proto"), protoPath("health.proto")],
    { keepCase: true, enums: String, defaults: true },
  );
  const api = grpc.loadPackageDefinition(definition);
  const credentials = grpc.credentials.createInsecure();
  return {
    classify: new api.intent.v1.IntentClassifier(target, credentials),
    health: new api.grpc.health.v1.Health(target, credentials),
  };
}

function call(stub, method, request) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 10000);
    stub[method](request, { deadline }, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      target: { type: "string" },
      texts: { type: "string" },
      seconds: { type: "string", default: "5" },
      method: { type: "string", default: "classify" },
    },
  });
  if (!values.target || !values.texts || !["classify", "health"].includes(values.method)) {
    console.error("usage: loadgen.mjs --target HOST:PORT --texts FILE --seconds S --method classify|health");
    process.exit(2);
  }
  const texts = JSON.parse(readFileSync(values.texts, "utf8"));
  const { classify, health } = stubs(values.target);
  const once =
    values.method === "health"
      ? () => call(health, "Check", { service: "" })
      : (i) => call(classify, "ClassifyIntent", { text: texts[i % texts.length] });
  for (let i = 0; i < WARM_UP_CALLS; i++) await once(i);
  const latencies = [];
  let errors = 0;
  const stopAt = performance.now() + Number(values.seconds) * 1000;
  for (let i = WARM_UP_CALLS; performance.now() < stopAt; i++) {
    const began = performance.now();
    try {
      await once(i);
      latencies.push(performance.now() - began);
    } catch {
      errors += 1;
    }
  }
  classify.close();
  health.close();
  console.log(JSON.stringify({ method: values.method, errors, latencies_ms: latencies }));
}

await main();
