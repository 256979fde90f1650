/**
 * `npm run bench -- spec`: speculative decoding, single stream, greedy, decode tok/s with and
 * without speculation side by side in one run (same engine settings, same prompts):
 * (1) prompt lookup on copy-heavy text: chain-135m (SmolLM2-135M's shape and cost, whose greedy
 *     output is a never-repeating chain) repeating a passage of that chain from its prompt with
 *     one token, or one in ten, changed, through the real `--spec ngram` path; stories260K
 *     continuing a passage it was shown, and repeating its own story with one token changed;
 *     synthetic smollm2-135m with drafts right a controlled fraction of the time (the
 *     reference greedy output, corrupted at rate 1 - overlap; its greedy output is too
 *     repetitive for a passage of its own to mean anything);
 * (2) a draft model that agrees often: synthetic spec-target-135m (30 layers, 26 of them
 *     nearly silent) drafted by spec-draft-135m (its first 4 layers);
 * (3) speculation that never hits (overlap 0): what adaptive k leaves of the cost.
 */
import { Engine, type Draft, type DraftRequest, type Drafter, type EngineOptions } from "../src/index.js";
import { LlamaBackend } from "../src/backend/llama-backend.js";
import { resolveParams } from "../src/engine/params.js";
import { ensureSyntheticModel } from "../src/models/synthetic.js";
import { NgramDrafter } from "../src/spec/ngram-drafter.js";
import { sharedModelsDir } from "../src/util/paths.js";
import { fmt, median, printTable } from "./table.js";

export interface SpecBenchOptions {
  threads: number;
  /** Fixed threads for every step; otherwise measured per batch size (inferd's default), up to `threads`. */
  fixedThreads: boolean;
  specK?: number;
  repeats: number;
  outputTokens: number;
  /** Which cases to run (all by default). */
  parts: SpecPart[];
}

/** "never": only the oracle case that is never right (what adaptive k leaves of the cost). */
export const SPEC_PARTS = ["steps", "chain", "stories", "oracle", "never", "draft"] as const;
export type SpecPart = (typeof SPEC_PARTS)[number];

interface Figures {
  tps: number;
  proposed: number;
  accepted: number;
  verifications: number;
}

/** Proposes the known greedy continuation of one prompt, each token wrong with probability 1 - overlap. */
class OracleDrafter implements Drafter {
  readonly name = "oracle";
  private seed = 1;
  constructor(
    private readonly prompt: readonly number[],
    private readonly output: readonly number[],
    private readonly overlap: number,
  ) {}
  async propose(requests: readonly DraftRequest[]): Promise<Map<number, Draft>> {
    const out = new Map<number, Draft>();
    for (const r of requests) {
      if (this.prompt.some((t, i) => r.tokens[i] !== t)) continue;
      const at = r.tokens.length - this.prompt.length;
      const tokens = this.output.slice(at, at + r.k).map((t) => (this.random() < this.overlap ? t : t + 1));
      if (tokens.length > 0) out.set(r.id, { tokens });
    }
    return out;
  }
  private random(): number {
    this.seed = (Math.imul(this.seed, 1103515245) + 12345) >>> 0;
    return this.seed / 4294967296;
  }
  accepted(): void {}
  release(): void {}
  async dispose(): Promise<void> {}
}

/**
 * Prompt lookup as if `passage` stood in the prompt: the real n-gram drafter looks the output
 * up in passage + output. stories260K does not copy its context reliably (it is tiny), so the
 * passage is its own greedy output with one token changed, kept out of its context: what prompt lookup meets when a model repeats a passage
 * with one word edited (a miss at the edit, then no guesses until the n-gram window has moved
 * past it), while the model computes exactly what it would anyway.
 */
class PassageLookup implements Drafter {
  readonly name = "passage-lookup";
  private readonly inner = new NgramDrafter();
  constructor(
    private readonly prompt: readonly number[],
    private readonly passage: readonly number[],
  ) {}
  propose(requests: readonly DraftRequest[]): Promise<Map<number, Draft>> {
    return this.inner.propose(requests.map((r) => ({ ...r, tokens: [...this.passage, ...r.tokens.slice(this.prompt.length)] })));
  }
  accepted(): void {}
  release(id: number): void {
    this.inner.release(id);
  }
  async dispose(): Promise<void> {}
}

async function decode(engine: Engine, prompt: number[], n: number): Promise<Figures> {
  const before = engine.specStats ?? { proposed: 0, accepted: 0, verifications: 0 };
  let tps = 0;
  for await (const ev of engine.generate(prompt, { temperature: 0, maxTokens: n, ignoreEos: true })) if (ev.type === "done") tps = ev.stats.tokensPerSecond;
  const after = engine.specStats ?? before;
  return { tps, proposed: after.proposed - before.proposed, accepted: after.accepted - before.accepted, verifications: after.verifications - before.verifications };
}

/**
 * Decode speed of a plain engine and a speculating one, after one untimed run each (a fresh
 * engine measures its thread counts per batch size in its first steps), then `repeats` pairs
 * run back to back, in alternating order (ABBA: a pair's second run is not always the same
 * engine). The speedup is the median of the pairs' ratios; this machine's timings swing by
 * +-10% from run to run, and pairing cancels the slow drifts.
 */
async function compare(engines: [Engine, Engine], prompt: number[], o: SpecBenchOptions): Promise<[Figures, Figures, number]> {
  for (const e of engines) await decode(e, prompt, o.outputTokens);
  const runs: [Figures[], Figures[]] = [[], []];
  const ratios: number[] = [];
  for (let r = 0; r < o.repeats; r++) {
    const order = r % 2 === 0 ? [0, 1] : [1, 0];
    const pair: Figures[] = [];
    for (const i of order) pair[i] = await decode(engines[i]!, prompt, o.outputTokens);
    runs[0].push(pair[0]!);
    runs[1].push(pair[1]!);
    ratios.push(pair[1]!.tps / pair[0]!.tps);
  }
  const summary = (rs: Figures[]): Figures => ({
    tps: median(rs.map((x) => x.tps)),
    proposed: rs.reduce((a, x) => a + x.proposed, 0),
    accepted: rs.reduce((a, x) => a + x.accepted, 0),
    verifications: rs.reduce((a, x) => a + x.verifications, 0),
  });
  return [summary(runs[0]), summary(runs[1]), median(ratios)];
}

function row(name: string, [base, spec, ratio]: [Figures, Figures, number]): (string | number)[] {
  const rate = spec.proposed > 0 ? spec.accepted / spec.proposed : 0;
  const meanAccepted = spec.verifications > 0 ? spec.accepted / spec.verifications : 0;
  return [name, fmt(base.tps), fmt(spec.tps), fmt(ratio, 2) + "x", fmt(rate * 100, 0) + "%", fmt(meanAccepted, 2)];
}

/**
 * What verifying k drafted tokens costs against one decode step, per model: the ceiling of any
 * speedup. Backend steps straight (no scheduler): a sequence with 256 tokens of context, then
 * 1 + k tokens with a sample after each, truncated back after every step; 1 thread.
 */
async function stepCosts(models: [string, string][]): Promise<void> {
  const ks = [0, 1, 4, 8, 16];
  const rows: (string | number)[][] = [];
  const sampler = resolveParams({ temperature: 0, seed: 1 }).sampler;
  for (const [label, path] of models) {
    const b = await LlamaBackend.load({ path, contextSize: 512, maxSequences: 1, batchSize: 512, threads: 1 });
    b.openSequence(0, sampler);
    const ctx = 256;
    await b.run({ items: [{ seq: 0, firstPos: 0, tokens: Array.from({ length: ctx }, (_, i) => 5 + (i % 200)), sample: false }] });
    const ms: number[] = [];
    for (const k of ks) {
      const times: number[] = [];
      for (let r = 0; r < 40; r++) {
        const t0 = performance.now();
        await b.run({ items: [{ seq: 0, firstPos: ctx, tokens: Array.from({ length: k + 1 }, (_, j) => 7 + j), sample: true, ...(k > 0 ? { draft: k } : {}) }] });
        times.push(performance.now() - t0);
        b.truncateSequence(0, ctx);
      }
      ms.push(median(times));
    }
    rows.push([label, ...ms.map((m) => fmt(m, 2)), fmt(ms.at(-1)! / ms[0]!, 1) + "x"]);
    await b.dispose();
  }
  console.log("\nstep cost with k drafted tokens verified (ms, median of 40; 1 thread, 256 tokens of context)\n");
  printTable(["model", ...ks.map((k) => `k=${k}`), "k=16 / k=0"], rows);
}

export async function specBench(o: SpecBenchOptions): Promise<void> {
  if (o.parts.includes("steps")) {
    const models: [string, string][] = [["chain-135m (SmolLM2-135M's shape), q8_0", await ensureSyntheticModel("synthetic:chain-135m-q8_0")]];
    const shared = sharedModelsDir();
    if (shared !== undefined) models.unshift(["stories260K (8-wide heads)", `${shared}/stories260K.gguf`]);
    await stepCosts(models);
  }
  const rows: (string | number)[][] = [];
  const common: EngineOptions = {
    ...(o.fixedThreads ? { threads: o.threads } : { maxThreads: o.threads }),
    maxSequences: 1,
    contextSize: 2048,
    prefixCache: false,
    ...(o.specK !== undefined ? { specK: o.specK } : {}),
  };
  if (o.parts.includes("chain")) {
    // (1) a passage in the prompt, repeated by the model with edits: real prompt lookup
    const model = await ensureSyntheticModel("synthetic:chain-135m-q8_0");
    const ref = await Engine.load({ ...common, model });
    const start = ref.tokenize("Once upon a time");
    const passage = [...start, ...(await tokensOf(ref, start, o.outputTokens + 64))];
    const vocab = ref.model.vocabSize;
    await ref.dispose();
    for (const [label, every] of [["one token", 0], ["one token in ten", 10]] as const) {
      // an edit far from its neighbours in the chain, so it makes no false n-gram match
      const edited = passage.map((t, i) => ((every === 0 ? i === passage.length >> 1 : i % every === every - 1) ? (t + vocab / 2) % vocab : t));
      const prompt = [...edited, ...passage.slice(0, start.length)];
      const plain = await Engine.load({ ...common, model });
      const ngram = await Engine.load({ ...common, model, speculative: "ngram" });
      rows.push(row(`chain-135m, prompt lookup, repeating a passage with ${label} changed`, await compare([plain, ngram], prompt, o)));
      await ngram.dispose();
      await plain.dispose();
    }
  }
  const shared = sharedModelsDir();
  if (shared !== undefined && o.parts.includes("stories")) {
    // (1a) stories260K shown a passage, then continuing its beginning: it tends to retell it
    const model = `${shared}/stories260K.gguf`;
    const plain = await Engine.load({ ...common, model, contextSize: 512 });
    const ngram = await Engine.load({ ...common, model, contextSize: 512, speculative: "ngram" });
    const passage = (await tokensOf(plain, plain.tokenize(""), 200)).slice(0, 160);
    const prompt = [...plain.tokenize(""), ...passage, ...passage.slice(0, 8)];
    rows.push(row("stories260K, prompt lookup, retelling a passage", await compare([plain, ngram], prompt, { ...o, outputTokens: Math.min(o.outputTokens, 300) })));
    // (1b) its own story, repeated with one token changed: real text, real n-gram lookups
    const bos = plain.tokenize("");
    const story = await tokensOf(plain, bos, o.outputTokens + 8);
    const edited = [...story];
    edited[o.outputTokens >> 1] = (edited[o.outputTokens >> 1]! + 1) % 512;
    const passageLookup = await Engine.load({ ...common, model, contextSize: 512, drafter: new PassageLookup(bos, edited) });
    rows.push(row("stories260K, prompt lookup, repeating its story with one token changed", await compare([plain, passageLookup], bos, { ...o, outputTokens: Math.min(o.outputTokens, 300) })));
    await passageLookup.dispose();
    await plain.dispose();
    await ngram.dispose();
  }
  if (o.parts.includes("oracle")) await oracleCases(common, o, rows, [1, 0.9, 0.7, 0.5, 0]);
  else if (o.parts.includes("never")) await oracleCases(common, o, rows, [0]);
  if (o.parts.includes("draft")) {
    // (2) a draft model that agrees often
    const target = await ensureSyntheticModel("synthetic:spec-target-135m-q8_0");
    const draftModel = await ensureSyntheticModel("synthetic:spec-draft-135m-q8_0");
    const t = await Engine.load({ ...common, model: target });
    const d = await Engine.load({ ...common, model: target, draftModel });
    rows.push(row("spec-target-135m drafted by spec-draft-135m", await compare([t, d], t.tokenize("Once upon a time"), o)));
    await t.dispose();
    await d.dispose();
  }
  if (rows.length === 0) return;
  const threads = o.fixedThreads ? `${o.threads} threads` : `threads measured per batch size (1-${o.threads})`;
  console.log(`\nsingle stream, greedy, ${o.outputTokens} output tokens, ${threads}, k <= ${o.specK ?? 16} (adaptive), ${o.repeats} pairs of runs in ABBA order; tok/s: medians; speedup: median of the pairs' ratios\n`);
  printTable(["case", "decode tok/s without", "with speculation", "speedup", "draft tokens accepted", "mean accepted per verification"], rows);
}

/** (1c, 3) synthetic smollm2-135m: guesses right a controlled fraction of the time, down to never. */
async function oracleCases(common: EngineOptions, o: SpecBenchOptions, rows: (string | number)[][], overlaps: number[]): Promise<void> {
  const model = await ensureSyntheticModel("synthetic:smollm2-135m-q8_0");
  const ref = await Engine.load({ ...common, model });
  const prompt = ref.tokenize("The quick brown fox jumps over the lazy dog. ".repeat(4));
  const output = await tokensOf(ref, prompt, o.outputTokens + 8);
  await ref.dispose();
  for (const overlap of overlaps) {
    // a fresh pair per case: both start from the same state
    const plain = await Engine.load({ ...common, model });
    const spec = await Engine.load({ ...common, model, drafter: new OracleDrafter(prompt, output, overlap) });
    rows.push(row(`smollm2-135m, drafts right ${overlap * 100}% of the time`, await compare([plain, spec], prompt, o)));
    await spec.dispose();
    await plain.dispose();
  }
}

async function tokensOf(engine: Engine, prompt: number[], n: number): Promise<number[]> {
  const out: number[] = [];
  for await (const ev of engine.generate(prompt, { temperature: 0, maxTokens: n, ignoreEos: true })) if (ev.type === "delta") out.push(...ev.tokens);
  return out;
}
