/**
 * The tokenizer of a synthetic model: a real vocabulary-only GGUF from the shared models folder
 * when present, else a built-in byte-level vocabulary, fitted to the model's vocabulary size
 * and given ChatML's control tokens and Qwen2.5's chat template.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { InferdError } from "../util/errors.js";
import { sharedModelsDir } from "../util/paths.js";
import { GGUF_TYPE, readGgufMetadata, type GgufMetadata, type GgufScalar, type GgufValue } from "./gguf-writer.js";
import type { SyntheticShape } from "./synthetic.js";

/**
 * Qwen2.5's chat template (ChatML with Hermes-style tools): tools listed in the system message,
 * calls as `<tool_call>` JSON, results as `<tool_response>` in a user turn.
 */
export const CHATML_TEMPLATE = [
  "{%- if tools %}{{- '<|im_start|>system\\n' }}",
  "{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}{%- else %}{{- 'You are a helpful assistant.' }}{%- endif %}",
  "{{- '\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}",
  "{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}",
  "{{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\\n</tool_call><|im_end|>\\n' }}",
  "{%- elif messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- endif %}",
  "{%- for message in messages %}",
  "{%- if (message.role == 'user') or (message.role == 'system' and not loop.first) or (message.role == 'assistant' and not message.tool_calls) %}",
  "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}",
  "{%- elif message.role == 'assistant' %}{{- '<|im_start|>' + message.role }}{%- if message.content %}{{- '\\n' + message.content }}{%- endif %}",
  "{%- for tool_call in message.tool_calls %}{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}",
  "{{- '\\n<tool_call>\\n{\"name\": \"' }}{{- tool_call.name }}{{- '\", \"arguments\": ' }}{{- tool_call.arguments | tojson }}{{- '}\\n</tool_call>' }}{%- endfor %}",
  "{{- '<|im_end|>\\n' }}",
  "{%- elif message.role == 'tool' %}{%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != 'tool') %}{{- '<|im_start|>user' }}{%- endif %}",
  "{{- '\\n<tool_response>\\n' }}{{- message.content }}{{- '\\n</tool_response>' }}",
  "{%- if loop.last or (messages[loop.index0 + 1].role != 'tool') %}{{- '<|im_end|>\\n' }}{%- endif %}",
  "{%- endif %}{%- endfor %}",
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
].join("");

const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, UNUSED: 5, BYTE: 6 } as const;
export const u32 = (value: number): GgufValue => ({ type: GGUF_TYPE.UINT32, value });
export const f32 = (value: number): GgufValue => ({ type: GGUF_TYPE.FLOAT32, value });
export const str = (value: string): GgufValue => ({ type: GGUF_TYPE.STRING, value });

function builtinTokenizer(): GgufMetadata {
  const tokens = ["<unk>", "<s>", "</s>"];
  const types: number[] = [TOKEN_TYPE.UNKNOWN, TOKEN_TYPE.CONTROL, TOKEN_TYPE.CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(TOKEN_TYPE.BYTE);
  }
  return new Map<string, GgufValue>([
    ["tokenizer.ggml.model", str("llama")],
    ["tokenizer.ggml.tokens", { type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.STRING, value: tokens }],
    ["tokenizer.ggml.scores", { type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.FLOAT32, value: tokens.map(() => 0) }],
    ["tokenizer.ggml.token_type", { type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.INT32, value: types }],
    ["tokenizer.ggml.bos_token_id", u32(1)],
    ["tokenizer.ggml.eos_token_id", u32(2)],
    ["tokenizer.ggml.unknown_token_id", u32(0)],
    ["tokenizer.ggml.add_bos_token", { type: GGUF_TYPE.BOOL, value: true }],
    ["tokenizer.ggml.add_eos_token", { type: GGUF_TYPE.BOOL, value: false }],
  ]);
}

/**
 * Make the tokenizer's token list exactly `nVocab` long (llama.cpp requires it to equal the
 * embedding rows) and give it ChatML's `<|im_start|>`/`<|im_end|>` control tokens: appended as
 * padding when there is room, else replacing unreferenced control tokens (e.g. StarCoder's FIM
 * tokens 1 and 2, which is where SmolLM2 has them).
 */
function fitTokenizer(tok: GgufMetadata, nVocab: number): GgufMetadata {
  const tokensV = tok.get("tokenizer.ggml.tokens");
  if (tokensV?.type !== GGUF_TYPE.ARRAY) throw new InferdError("invalid_model", "vocabulary has no tokenizer.ggml.tokens");
  const tokens = tokensV.value.map(String);
  if (tokens.length > nVocab) throw new InferdError("invalid_model", `vocabulary has ${tokens.length} tokens, more than ${nVocab}`);
  const arr = (key: string) => { const v = tok.get(key); return v?.type === GGUF_TYPE.ARRAY ? { itemType: v.itemType, value: [...v.value] } : undefined; };
  const types = arr("tokenizer.ggml.token_type") ?? { itemType: GGUF_TYPE.INT32, value: tokens.map((): GgufScalar => TOKEN_TYPE.NORMAL) };
  const scores = arr("tokenizer.ggml.scores");
  const referenced = new Set<number>();
  for (const [k, v] of tok) if (/^tokenizer\.ggml\..*token_id$/.test(k) && v.type !== GGUF_TYPE.ARRAY) referenced.add(Number(v.value));
  const have = new Set(tokens);
  const set = (id: number, text: string, type: number) => {
    tokens[id] = text; types.value[id] = type;
    if (scores) scores.value[id] = 0;
  };
  const chatml = ["<|im_start|>", "<|im_end|>"].filter((t) => !have.has(t));
  if (chatml.length > nVocab - tokens.length) {
    const free = types.value.flatMap((t, id) => (Number(t) === TOKEN_TYPE.CONTROL && !referenced.has(id) ? [id] : []));
    if (free.length < chatml.length) throw new InferdError("internal", "no room for ChatML tokens in the vocabulary");
    chatml.forEach((t, i) => set(free[i]!, t, TOKEN_TYPE.CONTROL));
  } else for (const t of chatml) set(tokens.length, t, TOKEN_TYPE.CONTROL);
  for (let n = 0; tokens.length < nVocab; n++) {
    const t = `<|reserved_${n}|>`;
    if (!have.has(t)) set(tokens.length, t, TOKEN_TYPE.UNUSED);
  }
  const out: GgufMetadata = new Map();
  for (const [k, v] of tok) if (k.startsWith("tokenizer.") && k !== "tokenizer.chat_template") out.set(k, v);
  out.set("tokenizer.ggml.tokens", { type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.STRING, value: tokens });
  out.set("tokenizer.ggml.token_type", { type: GGUF_TYPE.ARRAY, ...types });
  if (scores) out.set("tokenizer.ggml.scores", { type: GGUF_TYPE.ARRAY, ...scores });
  out.set("tokenizer.chat_template", str(CHATML_TEMPLATE));
  return out;
}

/** The tokenizer metadata and a tag naming its source (part of the cached file name). */
export async function loadTokenizer(p: Pick<SyntheticShape, "vocabFile" | "nVocab">): Promise<{ tag: string; meta: GgufMetadata }> {
  const shared = sharedModelsDir();
  if (shared) {
    const file = join(shared, "vocab", p.vocabFile);
    const exists = await stat(file).then(() => true, () => false);
    if (exists) {
      const tag = p.vocabFile.replace(/^ggml-vocab-/, "").replace(/\.gguf$/, "");
      return { tag, meta: fitTokenizer(await readGgufMetadata(file), p.nVocab) };
    }
  }
  return { tag: "bytes", meta: fitTokenizer(builtinTokenizer(), p.nVocab) };
}
