/**
 * Request schemas (zod): the wire shapes of OpenAI's and Anthropic's APIs. Unknown fields are
 * ignored, as those APIs' compatible servers do; known fields of the wrong type or out of range
 * are a 400 naming the field.
 */
import { z } from "zod";

const textPart = z.looseObject({ type: z.literal("text"), text: z.string() });
const content = z.union([z.string(), z.array(textPart), z.null()]);

const toolCall = z.looseObject({
  id: z.string(),
  type: z.literal("function"),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});

const message = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: content.optional(),
  name: z.string().optional(),
  tool_calls: z.array(toolCall).optional(),
  tool_call_id: z.string().optional(),
});

const stop = z.union([z.string(), z.array(z.string()).max(4)]).nullable().optional();

/** Sampling fields shared by chat and text completions. */
const sampling = {
  model: z.string(),
  max_tokens: z.number().int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  n: z.number().int().min(1).max(16).nullable().optional(),
  stop,
  seed: z.number().int().min(0).max(2 ** 32 - 1).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  logit_bias: z.record(z.string().regex(/^\d+$/), z.number().min(-100).max(100)).nullable().optional(),
  user: z.string().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  // llama.cpp / vLLM extensions
  top_k: z.number().int().min(0).optional(),
  min_p: z.number().min(0).max(1).optional(),
  repetition_penalty: z.number().gt(0).optional(),
  ignore_eos: z.boolean().optional(),
  priority: z.number().int().optional(),
  // inferd: opt a request out of speculative decoding
  speculative: z.boolean().optional(),
};

const jsonSchemaObject = z.record(z.string(), z.unknown());

/** `response_format`: free text, any JSON object, or JSON following a schema. */
const responseFormat = z
  .discriminatedUnion("type", [
    z.looseObject({ type: z.literal("text") }),
    z.looseObject({ type: z.literal("json_object") }),
    z.looseObject({
      type: z.literal("json_schema"),
      json_schema: z.looseObject({ name: z.string().optional(), schema: jsonSchemaObject.optional(), strict: z.boolean().nullable().optional() }),
    }),
  ])
  .nullable()
  .optional();

const tool = z.looseObject({
  type: z.literal("function"),
  function: z.looseObject({ name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/), description: z.string().optional(), parameters: jsonSchemaObject.optional() }),
});

const toolChoice = z
  .union([z.enum(["none", "auto", "required"]), z.looseObject({ type: z.literal("function"), function: z.looseObject({ name: z.string() }) })])
  .nullable()
  .optional();

export const chatCompletionRequest = z.looseObject({
  ...sampling,
  messages: z.array(message).min(1),
  response_format: responseFormat,
  tools: z.array(tool).nullable().optional(),
  tool_choice: toolChoice,
  parallel_tool_calls: z.boolean().nullable().optional(),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>;

export const completionRequest = z.looseObject({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.number().int().min(0)).min(1), z.array(z.string()).length(1)]),
  echo: z.boolean().nullable().optional(),
  // an extension (vLLM and llama-server take it too): constrained output on plain completions
  response_format: responseFormat,
  logprobs: z.number().int().min(0).max(5).nullable().optional(),
});
export type CompletionRequest = z.infer<typeof completionRequest>;

export const embeddingRequest = z.looseObject({
  model: z.string(),
  // an empty string embeds nothing: OpenAI refuses it too
  input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(2048), z.array(z.number().int().min(0)).min(1), z.array(z.array(z.number().int().min(0)).min(1)).min(1).max(2048)]),
  encoding_format: z.enum(["float", "base64"]).optional(),
  dimensions: z.number().int().min(1).optional(),
  user: z.string().optional(),
});
export type EmbeddingRequest = z.infer<typeof embeddingRequest>;

const anthropicText = z.looseObject({ type: z.literal("text"), text: z.string() });
const anthropicToolUse = z.looseObject({ type: z.literal("tool_use"), id: z.string(), name: z.string(), input: z.record(z.string(), z.unknown()) });
const anthropicToolResult = z.looseObject({
  type: z.literal("tool_result"),
  tool_use_id: z.string(),
  content: z.union([z.string(), z.array(anthropicText)]).optional(),
  is_error: z.boolean().optional(),
});
const anthropicBlock = z.discriminatedUnion("type", [anthropicText, anthropicToolUse, anthropicToolResult]);
export type AnthropicBlock = z.infer<typeof anthropicBlock>;
const anthropicTool = z.looseObject({
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
  description: z.string().optional(),
  input_schema: z.looseObject({ type: z.literal("object") }),
});
const anthropicToolChoice = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("auto") }),
  z.looseObject({ type: z.literal("any") }),
  z.looseObject({ type: z.literal("none") }),
  z.looseObject({ type: z.literal("tool"), name: z.string() }),
]);
export const messagesRequest = z.looseObject({
  model: z.string(),
  max_tokens: z.number().int().min(1),
  messages: z.array(z.looseObject({ role: z.enum(["user", "assistant"]), content: z.union([z.string(), z.array(anthropicBlock)]) })).min(1),
  system: z.union([z.string(), z.array(anthropicText)]).optional(),
  stop_sequences: z.array(z.string().min(1)).optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  stream: z.boolean().optional(),
  tools: z.array(anthropicTool).optional(),
  tool_choice: anthropicToolChoice.optional(),
});
/** Anthropic's `POST /v1/messages/count_tokens`: a messages request without max_tokens. */
export const countTokensRequest = messagesRequest.omit({ max_tokens: true, stream: true, stop_sequences: true, temperature: true, top_p: true, top_k: true });
export type CountTokensRequest = z.infer<typeof countTokensRequest>;
export type MessagesRequest = z.infer<typeof messagesRequest>;

/** The first problem of a failed parse, as "param" and a one-line message. */
export function describeIssue(error: z.ZodError): { param: string; message: string } {
  const issue = error.issues[0]!;
  const param = issue.path.map(String).join(".") || "body";
  return { param, message: `invalid ${param}: ${issue.message}` };
}
