// bot.js end to end: replies, the out-of-scope fallback, and readable errors.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test } from "node:test";

import { FALLBACK, REPLIES, reply } from "../bot.js";
import { NEEDS_SERVER, runBot } from "./helpers.js";

describe("bot.js against a running intent-server", { skip: NEEDS_SERVER }, () => {
  test("answers an in-scope message with the intent's reply", async () => {
    const { code, stdout } = await runBot(["hello there"]);
    assert.equal(code, 0);
    assert.ok(stdout.includes(REPLIES.greeting), stdout);
    assert.ok(!stdout.includes(FALLBACK), stdout);
  });

  test("falls back on an out-of-scope message and prints the reason", async () => {
    const { code, stdout } = await runBot(["what is the boiling point of mercury in kelvin"]);
    assert.equal(code, 0);
    assert.ok(stdout.includes(FALLBACK), stdout);
    assert.match(stdout, /\[out of scope: [A-Z_]+, familiarity \d\.\d\d\]/);
  });

  test("reads messages from stdin, skipping blank lines", async () => {
    const input = "book me a flight to tokyo\n\nwhat is the capital of mongolia\n";
    const { code, stdout } = await runBot([], { input });
    assert.equal(code, 0);
    assert.ok(stdout.includes(REPLIES.book_flight), stdout);
    assert.ok(stdout.includes(FALLBACK), stdout);
    assert.equal(stdout.match(/^> /gm).length, 2);
  });

  test("shows the server's message for an invalid request and exits 1", async () => {
    const { code, stderr } = await runBot([""]);
    assert.equal(code, 1);
    assert.match(stderr, /error: INVALID_ARGUMENT: text is empty/);
  });
});

describe("bot.js without a server", () => {
  test("says how to start the server when nothing listens", async () => {
    const port = await freePort();
    const { code, stderr } = await runBot(["hi"], { env: { INTENT_SERVER: `127.0.0.1:${port}` } });
    assert.equal(code, 1);
    assert.match(stderr, /cannot reach the intent server at 127\.0\.0\.1:\d+: is the server running\? make serve/);
  });

  test("reply() picks the intent's answer or the fallback", () => {
    const inScope = { out_of_scope: false, intent: { name: "thanks", confidence: 0.91 } };
    assert.equal(reply(inScope), `${REPLIES.thanks}\n  [thanks 0.91]`);
    const outOfScope = {
      out_of_scope: true,
      out_of_scope_reason: "OUT_OF_SCOPE_REASON_UNFAMILIAR",
      intent: { name: "out_of_scope", confidence: 0.7 },
      familiarity: 0.31,
    };
    assert.equal(reply(outOfScope), `${FALLBACK}\n  [out of scope: UNFAMILIAR, familiarity 0.31]`);
  });
});

/** A port nobody listens on (bound, then released). */
function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
