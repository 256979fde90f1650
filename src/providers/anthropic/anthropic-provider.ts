/**
 * Anthropic's Messages API as a Provider, streamed upstream: text and tool_use blocks become
 * neutral text and tool-call events, message_start's usage becomes the `start` event, and the
 * usage is normalized: Anthropic's input_tokens EXCLUDES cache reads and cache writes, so the
 * record's inputTokens is the sum of the three.
 */
import { InferdError } from "../../util/errors.js";
import type { FinishReason, Provider, ProviderEvent, ProviderRequest, Usage } from "../provider.js";
import { emptyUsage, estimateTokens } from "../usage.js";
import type { UpstreamClient } from "../upstream-client.js";
import { anthropicBody, anthropicPrompt } from "./anthropic-wire.js";

export interface AnthropicProviderOptions {
  name: string;
  client: UpstreamClient;
  /** The API version header (default 2023-06-01). */
  version?: string;
  contextWindows?: Record<string, number>;
}

/** Anthropic's usage object, as message_start and message_delta carry it. */
interface AnthropicUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_creation?: { ephemeral_5m_input_tokens?: number; ephemeral_1h_input_tokens?: number } | null;
}

interface StreamEvent {
  type?: string;
  index?: number;
  message?: { usage?: AnthropicUsage };
  content_block?: { type?: string; id?: string; name?: string; text?: string };
  delta?: { type?: string; text?: string; partial_json?: string; stop_reason?: string | null; stop_sequence?: string | null };
  usage?: AnthropicUsage;
  error?: { type?: string; message?: string };
}

export class AnthropicProvider implements Provider {
  readonly name: string;

  constructor(private readonly opts: AnthropicProviderOptions) {
    this.name = opts.name;
  }

  private headers(id: string): Record<string, string> {
    return { "anthropic-version": this.opts.version ?? "2023-06-01", "x-request-id": id };
  }

  async *generate(req: ProviderRequest): AsyncGenerator<ProviderEvent> {
    const t0 = performance.now();
    const res = await this.opts.client.post("/messages", anthropicBody(req), { signal: req.signal, stream: true, headers: this.headers(req.id) });
    const u: AnthropicUsage = {};
    let finish: FinishReason | undefined;
    let stopSequence: string | undefined;
    let firstToken: number | undefined;
    let stopped = false;
    let output = "";
    // Anthropic numbers content blocks; tool calls are numbered among themselves
    const toolIndex = new Map<number, number>();
    try {
      for await (const sse of res.sse({ isFinal: (e) => e.event === "message_stop" })) {
        const ev = parse(sse.data, this.name);
        switch (ev.type) {
          case "message_start":
            Object.assign(u, ev.message?.usage ?? {});
            yield { type: "start", inputTokens: inputOf(u), cachedInputTokens: u.cache_read_input_tokens ?? 0 };
            break;
          case "content_block_start":
            if (ev.content_block?.type === "tool_use") {
              const index = toolIndex.size;
              toolIndex.set(ev.index ?? 0, index);
              firstToken ??= performance.now();
              yield { type: "tool_call", choice: 0, index, ...(ev.content_block.id !== undefined ? { id: ev.content_block.id } : {}), name: ev.content_block.name ?? "", arguments: "" };
            }
            break;
          case "content_block_delta":
            if (ev.delta?.type === "text_delta" && ev.delta.text !== undefined) {
              firstToken ??= performance.now();
              output += ev.delta.text;
              yield { type: "text", choice: 0, text: ev.delta.text };
            } else if (ev.delta?.type === "input_json_delta" && ev.delta.partial_json !== undefined) {
              output += ev.delta.partial_json;
              yield { type: "tool_call", choice: 0, index: toolIndex.get(ev.index ?? 0) ?? 0, arguments: ev.delta.partial_json };
            }
            // thinking deltas are counted in output_tokens but are not the answer
            break;
          case "message_delta":
            Object.assign(u, definedOnly(ev.usage ?? {}));
            finish = finishReason(ev.delta?.stop_reason);
            stopSequence = ev.delta?.stop_sequence ?? undefined;
            break;
          case "message_stop":
            stopped = true;
            break;
          case "error":
            throw new InferdError("upstream", `${this.name} failed mid-stream: ${ev.error?.message ?? ev.error?.type ?? "unknown error"}`, { status: 502 });
          default:
            break; // ping, content_block_stop
        }
      }
    } catch (e) {
      if (!req.signal.aborted) throw e;
    }
    if (req.signal.aborted) finish = "abort";
    else if (!stopped) throw new InferdError("upstream", `${this.name} ended its stream without message_stop`, { status: 502, code: "upstream_incomplete" });
    yield { type: "finish", choice: 0, reason: finish ?? "stop", ...(stopSequence !== undefined ? { stopSequence } : {}) };
    const reported = u.output_tokens !== undefined;
    const usage: Usage = {
      ...emptyUsage(this.name, req.model),
      inputTokens: inputOf(u),
      cachedInputTokens: u.cache_read_input_tokens ?? 0,
      cacheWriteTokens: u.cache_creation_input_tokens ?? 0,
      cacheWrite1hTokens: u.cache_creation?.ephemeral_1h_input_tokens ?? 0,
      outputTokens: u.output_tokens ?? estimateTokens(output),
      estimated: !reported,
      timing: { queuedMs: 0, firstTokenMs: firstToken === undefined ? undefined : firstToken - t0, totalMs: performance.now() - t0 },
    };
    yield { type: "usage", usage };
  }

  async countTokens(req: ProviderRequest): Promise<number> {
    const res = await this.opts.client.post("/messages/count_tokens", anthropicPrompt(req), { signal: req.signal, headers: this.headers(req.id) });
    const j = (await res.json()) as { input_tokens?: unknown };
    if (typeof j.input_tokens !== "number") throw new InferdError("upstream", `${this.name} answered count_tokens without input_tokens`, { status: 502 });
    return j.input_tokens;
  }

  circuit(): "closed" | "open" | "half-open" {
    return this.opts.client.circuitState ?? "closed";
  }

  contextWindow(model: string): number | undefined {
    return this.opts.contextWindows?.[model];
  }

  close(): Promise<void> {
    return this.opts.client.close();
  }
}

/** Every prompt token: Anthropic's input_tokens excludes cache reads and writes. */
function inputOf(u: AnthropicUsage): number {
  return (u.input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0);
}

/** message_delta's usage may repeat fields as null: keep what message_start said for those. */
function definedOnly(u: AnthropicUsage): AnthropicUsage {
  return Object.fromEntries(Object.entries(u).filter(([, v]) => v !== null && v !== undefined)) as AnthropicUsage;
}

function finishReason(r: string | null | undefined): FinishReason | undefined {
  switch (r) {
    case null:
    case undefined:
      return undefined;
    case "max_tokens":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "refusal":
      return "content_filter";
    default:
      return "stop"; // end_turn, stop_sequence, pause_turn
  }
}

function parse(data: string, name: string): StreamEvent {
  try {
    const v = JSON.parse(data) as unknown;
    if (typeof v === "object" && v !== null) return v as StreamEvent;
  } catch {
    // reported below
  }
  throw new InferdError("upstream", `${name} sent a malformed stream event`, { status: 502, code: "upstream_malformed" });
}
