#!/usr/bin/env node
// A tiny bot over intent-server: `node bot.js "message" ...`, or one message per line of stdin.
// It answers each message with a canned reply for the bundled example bot's intents
// (examples/assistant) and falls back politely when the server says `out_of_scope`.
import { realpathSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { IntentClient, grpc } from "./intent-client.js";

export const REPLIES = {
  greeting: "Hello! How can I help you today?",
  goodbye: "Goodbye, talk to you soon!",
  thanks: "You're welcome!",
  check_balance: "Let me look up your account balance.",
  transfer_money: "Sure, let's set up that transfer.",
  convert_currency: "Let me check today's exchange rate.",
  set_alarm: "Okay, setting an alarm.",
  cancel_alarm: "Okay, cancelling that alarm.",
  set_timer: "Okay, starting a timer.",
  play_music: "Playing some music for you.",
  weather_forecast: "Let me get the forecast.",
  check_calendar: "Here is what's on your calendar.",
  add_calendar_event: "I'll add that to your calendar.",
  send_message: "Okay, I'll send that message.",
  translate_text: "Let me translate that.",
  book_flight: "Let's find you a flight.",
  order_taxi: "I'll order you a taxi.",
  book_restaurant: "I'll book you a table.",
};

export const FALLBACK =
  "Sorry, I can only help with your bank account, alarms and timers, music, the weather, " +
  "your calendar, messages, translations, flights, taxis and restaurant bookings.";

const REASON_PREFIX = "OUT_OF_SCOPE_REASON_";

/** The bot's answer to one ClassifyIntentResponse, with what the server decided. */
export function reply(result) {
  if (result.out_of_scope) {
    const reason = result.out_of_scope_reason.replace(REASON_PREFIX, "");
    const familiarity =
      result.familiarity === undefined ? "" : `, familiarity ${result.familiarity.toFixed(2)}`;
    return `${FALLBACK}\n  [out of scope: ${reason}${familiarity}]`;
  }
  const { name, confidence } = result.intent;
  const answer = REPLIES[name] ?? `I understood "${name}" but have no reply for it yet.`;
  return `${answer}\n  [${name} ${confidence.toFixed(2)}]`;
}

/** What went wrong with a failed call, in words. */
export function describeError(err, server) {
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
      return (
        `cannot reach the intent server at ${server}: is the server running? make serve\n` +
        `  (${err.details})`
      );
    case grpc.status.DEADLINE_EXCEEDED:
      return `the intent server at ${server} did not answer in time (INTENT_DEADLINE_MS)`;
    case grpc.status.UNAUTHENTICATED:
    case grpc.status.PERMISSION_DENIED:
      return `${err.details} (set INTENT_TOKEN to a token the server accepts)`;
    default:
      // INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED...: the server's message says what to fix.
      return err.code === undefined ? String(err) : `${grpc.status[err.code]}: ${err.details}`;
  }
}

async function* messages(argv) {
  if (argv.length > 0) {
    yield* argv;
    return;
  }
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim()) yield line; // an empty line is a user pressing Enter, not a message
  }
}

export async function main(argv = process.argv.slice(2)) {
  const client = new IntentClient();
  let failed = false;
  try {
    for await (const text of messages(argv)) {
      console.log(`> ${text}`);
      try {
        console.log(reply(await client.classify(text)));
      } catch (err) {
        failed = true;
        console.error(`error: ${describeError(err, client.settings.server)}`);
      }
    }
  } finally {
    client.close();
  }
  return failed ? 1 : 0;
}

// Run only as `node bot.js`, not when imported (the tests import reply()). import.meta.url is
// the real path, argv[1] may go through a symlink.
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  try {
    process.exitCode = await main();
  } catch (err) {
    // A setup mistake (INTENT_PROTO or INTENT_TLS_CA naming a missing file...), not a call.
    console.error(`error: ${err.message}`);
    process.exitCode = 2;
  }
}
