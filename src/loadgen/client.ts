import { request as httpRequest, type Agent, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";

/** The two OpenAI endpoints a benchmark can drive. */
export type Endpoint = "/v1/completions" | "/v1/chat/completions";

/** One streamed request to send. */
export interface RequestSpec {
  /** Full URL of the endpoint. */
  url: URL;
  endpoint: Endpoint;
  model: string;
  prompt: string;
  /** Chat only: the whole conversation (multi-turn workloads); default one user message of `prompt`. */
  messages?: { role: "system" | "user" | "assistant"; content: string }[];
  maxTokens: number;
  apiKey?: string;
  /** Keep-alive agent shared by all requests, matching `url`'s protocol. */
  agent?: Agent;
}

/** What the client measured for one request. Times are ms on the performance.now() clock. */
export interface RequestResult {
  ok: boolean;
  /** Why the request failed (HTTP status and body, error event, connection error). */
  error?: string;
  /** Request sent -> first chunk with non-empty generated text. */
  ttftMs: number;
  /** Gaps between successive chunks with text (network reads, so several tokens may share one). */
  itlMs: number[];
  /** Request sent -> end of the stream. */
  e2elMs: number;
  /** (e2el - ttft) / (outputTokens - 1); 0 when fewer than 2 tokens were generated. */
  tpotMs: number;
  /** `usage.prompt_tokens`, when the server reported usage. */
  promptTokens?: number;
  /** `usage.prompt_tokens_details.cached_tokens`, when the server reported it. */
  cachedTokens?: number;
  /** `usage.completion_tokens`, else the number of chunks with text. */
  outputTokens: number;
  generatedText: string;
}

/** The JSON body: streamed, greedy, and generating exactly `maxTokens` tokens where supported. */
export function requestBody(spec: RequestSpec): Record<string, unknown> {
  const common = {
    model: spec.model,
    max_tokens: spec.maxTokens,
    temperature: 0,
    // vLLM/llama-server/inferd extension: without it, an early EOS makes output lengths vary by server
    ignore_eos: true,
    stream: true,
    stream_options: { include_usage: true },
  };
  return spec.endpoint === "/v1/chat/completions"
    ? { ...common, messages: spec.messages ?? [{ role: "user", content: spec.prompt }] }
    : { ...common, prompt: spec.prompt };
}

/**
 * Incremental Server-Sent Events parser: feed it decoded text as it arrives, get back the `data`
 * payload of each complete event. Handles events split across reads, several events per read,
 * CRLF endings, comments (`: keep-alive`) and multi-line data.
 */
export class SseParser {
  private buf = "";
  private data: string[] = [];

  /** Adds text; returns the payloads of the events it completed. */
  push(text: string): string[] {
    this.buf += text;
    const out: string[] = [];
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      this.line(this.buf.slice(0, nl).replace(/\r$/, ""), out);
      this.buf = this.buf.slice(nl + 1);
    }
    return out;
  }

  /** End of stream: returns an event left without its closing blank line. */
  end(): string[] {
    const out: string[] = [];
    if (this.buf !== "") this.line(this.buf.replace(/\r$/, ""), out);
    this.buf = "";
    this.line("", out);
    return out;
  }

  private line(line: string, out: string[]): void {
    if (line === "") {
      if (this.data.length > 0) out.push(this.data.join("\n"));
      this.data = [];
    } else if (line.startsWith("data:")) {
      this.data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
    } // other fields (event:, id:, retry:) and comments carry nothing we measure
  }
}

/** Generated text in a completions or chat chunk (reasoning models stream part of it aside). */
function chunkText(msg: any): string {
  const c = msg?.choices?.[0];
  if (!c) return "";
  if (typeof c.text === "string") return c.text;
  const d = c.delta ?? {};
  return (d.reasoning_content ?? "") + (d.reasoning ?? "") + (d.content ?? "");
}

/** A one-line message for an error value (connection errors on Node can be AggregateErrors with no message). */
function errorText(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) return errorText(e.errors[0]);
  if (e instanceof Error) return e.message || (e as NodeJS.ErrnoException).code || e.name;
  if (typeof e === "object" && e !== null && "message" in e) return String((e as { message: unknown }).message);
  return typeof e === "string" ? e : JSON.stringify(e);
}

// node:http rather than fetch: fetch (undici) gives up after 300 s without response headers, and
// a request queued behind hundreds of others on a slow server can legitimately wait that long.
function post(spec: RequestSpec, body: string): Promise<IncomingMessage> {
  const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
  if (spec.apiKey) headers.authorization = `Bearer ${spec.apiKey}`;
  const send = spec.url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(spec.url, { method: "POST", headers, agent: spec.agent }, resolve);
    req.on("error", reject);
    req.end(body);
  });
}

/** Sends one streamed request and times it from the client's side. Never throws: failures are results. */
export async function sendRequest(spec: RequestSpec): Promise<RequestResult> {
  const r: RequestResult = { ok: false, ttftMs: 0, itlMs: [], e2elMs: 0, tpotMs: 0, outputTokens: 0, generatedText: "" };
  const body = JSON.stringify(requestBody(spec));
  const start = performance.now();
  try {
    const res = await post(spec, body);
    if (res.statusCode !== 200) {
      let text = "";
      for await (const c of res) if (text.length < 500) text += String(c);
      r.error = `HTTP ${res.statusCode}: ${text.replace(/\s+/g, " ").trim().slice(0, 300)}`;
      return r;
    }
    const parser = new SseParser();
    const decoder = new TextDecoder();
    let last = 0;
    let chunks = 0;
    let done = false;
    let usage: { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } } | undefined;
    const onEvent = (data: string, now: number) => {
      if (done) return;
      if (data.trim() === "[DONE]") return void (done = true);
      let msg: any;
      try {
        msg = JSON.parse(data);
      } catch {
        throw new Error(`invalid JSON in stream: ${data.slice(0, 100)}`);
      }
      if (msg?.error) throw new Error(`error event: ${errorText(msg.error)}`);
      if (msg?.usage) usage = msg.usage;
      const text = chunkText(msg);
      if (text === "") return; // role-only first chunks and the usage chunk are not tokens
      if (chunks === 0) r.ttftMs = now - start;
      else r.itlMs.push(now - last);
      last = now;
      chunks++;
      r.generatedText += text;
    };
    // keep reading after [DONE] rather than breaking: breaking destroys the keep-alive socket
    for await (const c of res) {
      const now = performance.now();
      for (const data of parser.push(decoder.decode(c as Buffer, { stream: true }))) onEvent(data, now);
    }
    r.e2elMs = performance.now() - start;
    for (const data of parser.end()) onEvent(data, r.e2elMs + start);
    if (!done) throw new Error("stream ended before data: [DONE]");
    if (chunks === 0) throw new Error("stream carried no generated text (no TTFT to measure)");
    if (typeof usage?.prompt_tokens === "number") r.promptTokens = usage.prompt_tokens;
    if (typeof usage?.prompt_tokens_details?.cached_tokens === "number") r.cachedTokens = usage.prompt_tokens_details.cached_tokens;
    r.outputTokens = typeof usage?.completion_tokens === "number" ? usage.completion_tokens : chunks;
    r.tpotMs = r.outputTokens > 1 ? (r.e2elMs - r.ttftMs) / (r.outputTokens - 1) : 0;
    r.ok = true;
  } catch (e) {
    r.error = errorText(e);
  }
  return r;
}
