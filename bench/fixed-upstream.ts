/**
 * A fast OpenAI-compatible upstream for `npm run bench -- gateway`: POST /v1/chat/completions
 * answered at once with a fixed short reply, so whatever latency a gateway in front of it shows
 * beyond the direct baseline is the gateway's own. Its own process:
 *
 *   node dist/bench/fixed-upstream.js --port 0
 *
 * prints `[fixed-upstream] listening on http://127.0.0.1:PORT` on stderr when ready. `stream:
 * false` gets a chat.completion JSON (with usage); `stream: true` gets SSE: a role chunk, a few
 * content chunks, a finish chunk, a usage chunk (with `stream_options.include_usage`, as OpenAI
 * does), then `data: [DONE]`. node:http only: no dependency may cost time here.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { parseArgs } from "node:util";

const REPLY = ["Hello", "! This is", " a fixed", " reply."];
const PROMPT_TOKENS = 9;
const COMPLETION_TOKENS = 8;
const usage = { prompt_tokens: PROMPT_TOKENS, completion_tokens: COMPLETION_TOKENS, total_tokens: PROMPT_TOKENS + COMPLETION_TOKENS };

interface ChatBody {
  model?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown } | null;
}

let counter = 0;

function completionJson(model: string): string {
  return JSON.stringify({
    id: `chatcmpl-fixed${++counter}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: null,
    choices: [{ index: 0, message: { role: "assistant", content: REPLY.join(""), refusal: null }, logprobs: null, finish_reason: "stop" }],
    usage,
  });
}

/** The events of one streamed reply, as OpenAI sends them (the same id and created on every chunk). */
function streamEvents(model: string, includeUsage: boolean): string[] {
  const base = { id: `chatcmpl-fixed${++counter}`, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model, system_fingerprint: null };
  const chunk = (choices: object[], extra: object = {}) => `data: ${JSON.stringify({ ...base, choices, ...extra })}\n\n`;
  const withUsage = includeUsage ? { usage: null } : {};
  const events = [chunk([{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }], withUsage)];
  for (const text of REPLY) events.push(chunk([{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }], withUsage));
  events.push(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }], withUsage));
  if (includeUsage) events.push(chunk([], { usage }));
  events.push("data: [DONE]\n\n");
  return events;
}

function fail(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { message, type: "invalid_request_error" } }));
}

function handle(req: IncomingMessage, res: ServerResponse, raw: string): void {
  if (req.method !== "POST" || req.url !== "/v1/chat/completions") return fail(res, 404, `no route ${req.method} ${req.url}`);
  let body: ChatBody;
  try {
    body = JSON.parse(raw) as ChatBody;
  } catch {
    return fail(res, 400, "the request body is not valid JSON");
  }
  const model = typeof body.model === "string" ? body.model : "fixed";
  if (body.stream !== true) {
    const json = completionJson(model);
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
    res.end(json);
    return;
  }
  // Chunked, one write per event as a real stream has them; node:http corks writes made in one
  // tick, so they leave in one packet: the fastest stream an upstream can send.
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  for (const e of streamEvents(model, body.stream_options?.include_usage === true)) res.write(e);
  res.end();
}

const { values } = parseArgs({ options: { port: { type: "string", default: "0" }, host: { type: "string", default: "127.0.0.1" } } });
const server = createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on("data", (c: Buffer) => parts.push(c));
  req.on("end", () => handle(req, res, Buffer.concat(parts).toString("utf8")));
});
// Keep-alive on, for longer than any pause between benchmark points (node's default is 5 s).
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.listen(Number(values.port), values.host, () => {
  const addr = server.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : Number(values.port);
  process.stderr.write(`[fixed-upstream] listening on http://${values.host}:${port}\n`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
