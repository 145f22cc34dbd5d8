// Shared by the tests: run bot.js as a child process, and the address of the server under test.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const BOT = fileURLToPath(new URL("../bot.js", import.meta.url));

export const SERVER = process.env.INTENT_SERVER;
export const NEEDS_SERVER = SERVER
  ? false
  : "INTENT_SERVER is not set: start a server (make serve) and run INTENT_SERVER=127.0.0.1:50051 npm test";

/** Run `node bot.js ...args`, feeding `input` on stdin; resolves to { code, stdout, stderr }. */
export function runBot(args, { env = {}, input = "" } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BOT, ...args], { env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}
