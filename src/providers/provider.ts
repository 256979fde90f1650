/**
 * The one contract between the gateway and whatever answers a request: a model on this machine
 * (the local engine) or a hosted API (OpenAI-compatible, Anthropic). A provider takes a neutral
 * request and yields neutral events, ending in exactly one `Usage` record per request; the
 * protocols (src/server/) write those events as OpenAI's or Anthropic's wire format, so any
 * client protocol works in front of any provider.
 */
import type { GrammarSpec } from "../backend/backend.js";

/** A chat message, in OpenAI's roles; content is text (parts are joined by the protocol). */
export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  name?: string;
  /** An assistant's earlier calls (arguments as the JSON text the model wrote). */
  tool_calls?: ToolCall[];
  /** A tool message: the call it answers. */
  tool_call_id?: string;
}

/** A function the model may call (OpenAI's `tools[]` shape). */
export interface ToolDefinition {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

/** OpenAI's `tool_choice`; Anthropic's auto/any/tool/none map onto it. */
export type ToolChoice = "none" | "auto" | "required" | { type: "function"; function: { name: string } };

/** A call the model made. */
export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** What the output must be: free text, any JSON object, or JSON following a schema. */
export type ResponseFormat = { type: "text" } | { type: "json_object" } | { type: "json_schema"; name?: string; schema?: Record<string, unknown>; strict?: boolean };

/** Sampling settings, OpenAI's meanings; a provider that cannot honour one it is given refuses the request. */
export interface Sampling {
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  repetitionPenalty?: number;
  seed?: number;
  /** Token id -> bias (local models and OpenAI-compatible upstreams with the same vocabulary). */
  logitBias?: Record<string, number>;
}

export interface ProviderRequest {
  /** The gateway's id of the request (ledger, logs, upstream `x-request-id`). */
  id: string;
  /** The model as the provider names it (a local model's name, an upstream's model id). */
  model: string;
  /** A chat, or a raw prompt (text or token ids) for completions. */
  input: { kind: "chat"; messages: ChatMessage[] } | { kind: "prompt"; prompt: string | number[]; echo?: boolean };
  sampling: Sampling;
  maxTokens?: number;
  stop?: string[];
  /** Choices to generate (OpenAI's n). */
  n: number;
  /** Report each output token's logprob and this many alternatives; undefined: none. */
  logprobs?: number;
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  responseFormat?: ResponseFormat;
  /** A grammar of the caller's own (local models only; it takes the place of responseFormat). */
  grammar?: GrammarSpec;
  /** Engine extensions (vLLM's and llama.cpp's names); upstreams that speak them get them passed on. */
  extensions?: { ignoreEos?: boolean; priority?: number; speculative?: boolean };
  /**
   * The client reads a stream. A hosted provider may ask its upstream for a whole answer when it
   * does not (cheaper to parse, and nothing reaches the client before the end anyway).
   */
  stream?: boolean;
  /** Aborted when the client goes away or the server shuts down: the provider stops and still yields its usage. */
  signal: AbortSignal;
}

/** A token's logprob with its text, and its most likely alternatives. */
export interface LogprobEntry {
  text: string;
  logprob: number;
  top: { text: string; logprob: number }[];
}

/** Why a choice ended. "abort": the request was cancelled (client gone, shutdown). */
export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter" | "abort";

/** What a provider yields: `start` first when it has one, then per choice in order; `usage` once, last. */
export type ProviderEvent =
  /**
   * What the prompt cost, when the provider knows it before the output (a local model at its
   * first token; Anthropic's message_start): a stream's opening can report it.
   */
  | { type: "start"; inputTokens: number; cachedInputTokens: number }
  /** Output text of one choice (may be ""), with the logprobs of the tokens it came from. */
  | { type: "text"; choice: number; text: string; logprobs?: LogprobEntry[] }
  /**
   * A piece of a tool call of one choice: the first piece of call `index` carries its id and
   * name; `arguments` pieces concatenate to the call's JSON arguments.
   */
  | { type: "tool_call"; choice: number; index: number; id?: string; name?: string; arguments: string }
  | { type: "finish"; choice: number; reason: FinishReason; stopSequence?: string }
  | { type: "usage"; usage: Usage };

/**
 * Tokens and timing of one request, all its choices together, in ONE convention whatever the
 * provider's: the one place where providers' disagreements are settled (the gateways' most-filed
 * bug class: LiteLLM #6215, #9812, #11789, #15945).
 * - OpenAI: `prompt_tokens` INCLUDES `prompt_tokens_details.cached_tokens`; reasoning tokens are
 *   inside `completion_tokens`.
 * - Anthropic: `input_tokens` EXCLUDES `cache_read_input_tokens` and
 *   `cache_creation_input_tokens`: the three add up to the prompt.
 * Here every "of which" count is a part of the total before it.
 */
export interface Usage {
  /** Every prompt token the model read: uncached, read from a cache and written to one. */
  inputTokens: number;
  /** Of `inputTokens`, read from a prompt/prefix cache (billed at the cached rate). */
  cachedInputTokens: number;
  /** Of `inputTokens`, written to a prompt cache (Anthropic's cache_creation; billed at the write rate). */
  cacheWriteTokens: number;
  /** Of `cacheWriteTokens`, written for 1 hour (the rest for 5 minutes). */
  cacheWrite1hTokens: number;
  /** Every generated token, all choices, reasoning included. */
  outputTokens: number;
  /** Of `outputTokens`, reasoning (thinking) tokens. */
  reasoningTokens: number;
  /** True when the upstream reported no usage and the counts are inferd's own (its tokenizer, or text length). */
  estimated: boolean;
  /** Milliseconds from the request reaching the provider: waiting for capacity (local queue), first output token, end. */
  timing: { queuedMs: number; firstTokenMs: number | undefined; totalMs: number };
  /**
   * Models run on this machine: the request's share of the compute (each step's time split
   * over its tokens, so a request pays for its tokens at the batch size it really ran), and the
   * compute its cached prompt tokens saved (at the measured prefill cost per token). Local
   * prices are the machine's cost per hour applied to these.
   */
  compute?: { ms: number; savedMs: number };
  /** Who really answered: the provider's name in the config and the model it ran. */
  provider: string;
  model: string;
  /**
   * Calls this request also paid for whose answers the client never saw (a cascade's small
   * answer, rejected and escalated): priced and counted in the ledger with this one. The
   * fields above are the answering call's alone.
   */
  prior?: Usage[];
}

/** Embedding vectors of inputs, with the usage (input tokens only). */
export interface EmbeddingResult {
  vectors: number[][];
  usage: Usage;
}

export interface EmbeddingRequest {
  id: string;
  model: string;
  inputs: (string | number[])[];
  dimensions?: number;
  signal: AbortSignal;
}

/** Load figures of a provider that runs models here (the metrics' gauges). */
export interface LocalLoad {
  running: number;
  waiting: number;
  /** Share of KV cells held by running requests (0..1). */
  kvUsage: number;
  prefixCache: { queries: number; hits: number };
  spec?: { proposed: number; accepted: number };
}

export interface Provider {
  /** Its name in the config ("local", "lab", ...). */
  readonly name: string;
  /**
   * Answers a request. Errors before the first event are the request's (the gateway may retry
   * it elsewhere); after it, a thrown error ends the response with an error event. Unless it
   * throws, the last event is one `usage`, aborted requests included.
   */
  generate(req: ProviderRequest): AsyncIterable<ProviderEvent>;
  embed?(req: EmbeddingRequest): Promise<EmbeddingResult>;
  /** Prompt tokens of a request as this provider's model counts them (Anthropic's count_tokens). */
  countTokens?(req: ProviderRequest): Promise<number>;
  /** Context window of a model this provider serves, when known. */
  contextWindow?(model: string): number | undefined;
  /** A hosted upstream's circuit breaker: "open" while it is refusing calls. */
  circuit?(): "closed" | "open" | "half-open";
  /** Load of a local model by name (undefined for hosted ones, or a model not loaded now). */
  load?(model: string): LocalLoad | undefined;
  /** Frees what it holds (models, connections). */
  close(): Promise<void>;
}
