import { parseArgs } from "node:util";
import { Engine } from "../engine/engine.js";
import type { GenerateParams } from "../engine/params.js";
import { joinNegativeValues, numberFlag, parseError } from "./args.js";
import { writeOut } from "./output.js";

export const RUN_HELP = `Usage: inferd run [options] [PROMPT]

Generates text from PROMPT (an empty or missing PROMPT starts from the BOS token alone) and
streams it to stdout; statistics go to stderr.

Options:
  -m, --model M            local .gguf path, hf:<owner>/<repo>/<file>.gguf, or
                           synthetic:<shape>[-<quant>] (default: a small instruct model)
  -n, --max-tokens N       most tokens to generate (default: until the context is full)
  -t, --temperature T      0 = greedy (default 1)
      --top-k K            keep the K most likely tokens (0 = off)
      --top-p P            nucleus sampling, 0 < P <= 1 (1 = off)
      --min-p P            drop tokens below P x the most likely (0 = off)
      --repeat-penalty R   penalty on repeated tokens (1 = off)
      --presence-penalty X / --frequency-penalty X   OpenAI-style penalties in [-2, 2]
  -s, --seed S             same seed, same output
      --stop STR           stop before STR (repeatable)
      --ignore-eos         keep generating past end-of-generation tokens
      --threads N          llama.cpp threads (default: CPUs available to this process)
  -c, --context N          context window in tokens (default: the model's, at most 4096)
  -h, --help               show this help
`;

const VALUED = new Set(
  ["model", "max-tokens", "temperature", "top-k", "top-p", "min-p", "repeat-penalty", "presence-penalty", "frequency-penalty", "seed", "stop", "threads", "context"].map((f) => `--${f}`),
).add("-n").add("-t").add("-s").add("-c").add("-m");

/** `inferd run`: one prompt, streamed. */
export async function runCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv, VALUED),
      allowPositionals: true,
      options: {
        model: { type: "string", short: "m" },
        "max-tokens": { type: "string", short: "n" },
        temperature: { type: "string", short: "t" },
        "top-k": { type: "string" },
        "top-p": { type: "string" },
        "min-p": { type: "string" },
        "repeat-penalty": { type: "string" },
        "presence-penalty": { type: "string" },
        "frequency-penalty": { type: "string" },
        seed: { type: "string", short: "s" },
        stop: { type: "string", multiple: true },
        "ignore-eos": { type: "boolean" },
        threads: { type: "string" },
        context: { type: "string", short: "c" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw parseError(e);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(RUN_HELP);
    return 0;
  }
  const params: GenerateParams = {
    maxTokens: numberFlag("max-tokens", v["max-tokens"], { integer: true, min: 1 }),
    temperature: numberFlag("temperature", v.temperature, { min: 0 }),
    topK: numberFlag("top-k", v["top-k"], { integer: true, min: 0 }),
    topP: numberFlag("top-p", v["top-p"], { minExclusive: 0, max: 1 }),
    minP: numberFlag("min-p", v["min-p"], { min: 0, max: 1 }),
    repetitionPenalty: numberFlag("repeat-penalty", v["repeat-penalty"], { minExclusive: 0 }),
    presencePenalty: numberFlag("presence-penalty", v["presence-penalty"], { min: -2, max: 2 }),
    frequencyPenalty: numberFlag("frequency-penalty", v["frequency-penalty"], { min: -2, max: 2 }),
    seed: numberFlag("seed", v.seed, { integer: true, min: 0, max: 2 ** 32 - 1 }),
    stop: v.stop,
    ignoreEos: v["ignore-eos"],
  };
  const threads = numberFlag("threads", v.threads, { integer: true, min: 1 });
  const contextSize = numberFlag("context", v.context, { integer: true, min: 1 });
  const prompt = parsed.positionals.join(" ");

  const engine = await Engine.load({ model: v.model, threads, contextSize, maxSequences: 1, progress: true });
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once("SIGINT", onSigint);
  try {
    for await (const ev of engine.generate(prompt, params, { signal: ac.signal })) {
      if (ev.type === "delta") {
        if (ev.text.length > 0) await writeOut(ev.text);
      } else {
        const s = ev.stats;
        process.stderr.write(
          `\n[inferd] ${engine.model.name} (${engine.model.quantization}), threads ${engine.threadsDescription}: ` +
            `prompt ${s.promptTokens} tokens, output ${s.outputTokens} tokens, ` +
            `TTFT ${s.timeToFirstTokenMs.toFixed(1)} ms, ${s.tokensPerSecond.toFixed(1)} tok/s, finish ${ev.finishReason}\n`,
        );
      }
    }
  } finally {
    process.off("SIGINT", onSigint);
    await engine.dispose();
  }
  return 0;
}
