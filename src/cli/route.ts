/**
 * `inferd route train` and `inferd route eval`: the learned router offline, and any policy's
 * cost-quality curve with RouteLLM's metrics on labelled outcomes.
 */
import { parseArgs } from "node:util";
import { saveRouterModel, loadRouterModel } from "../routing/learned.js";
import { loadDataset, splitHalves } from "../routing/eval/dataset.js";
import { EVAL_POLICIES, evaluatePolicy, train, type EvalPolicy, type EvalResult } from "../routing/eval/evaluate.js";
import { InferdError } from "../util/errors.js";
import { parseError } from "./args.js";
import { formatColumns } from "./columns.js";

export const ROUTE_HELP = `Usage: inferd route train --dataset F --out FILE [--kind router|cascade]
       inferd route eval [--train DEV] --dataset F --policy P [--model FILE] [--format table|json]

train: fits the learned router on labelled outcomes (RouteLLM's CSV shape: prompt, one
True/False column per model, for GSM8K both answers) and writes it as JSON for a route's
learned.file. --kind router (default): from the prompt alone, the chance that only the large
model gets it right; --kind cascade: from the prompt and the small model's answer, the chance
that the answer is wrong (needs answers).

eval: a policy's cost-quality curve on F as its threshold moves, and RouteLLM's metrics: APGR,
CPT(50%) and CPT(80%) (share of large-model calls to recover 50% / 80% of the accuracy gap),
and the cost saved at 95% of the large model's accuracy, priced from the price table with the
prompts' and answers' token counts (MMLU: a one-token answer). A cascade pays the small model on
every question and the large one on each escalation.

A dataset may be given as PATH#even or PATH#odd: one fixed half of it (by a hash of each
prompt), to tune on one half and check on the other.

Policies: cascade (the gsm8k answer check, then a validator trained on --train), learned (a
router trained on --train, or --model FILE), rules (longer prompts first), random (expected
values), oracle (the large model exactly where only it is right).
  -h, --help   show this help
`;

/** A dataset path, or `PATH#even` / `PATH#odd` for one fixed half of it (to tune on one half and check on the other). */
function dataset(spec: string) {
  const m = /^(.*)#(even|odd)$/.exec(spec);
  if (m === null) return loadDataset(spec);
  const [even, odd] = splitHalves(loadDataset(m[1]!));
  return m[2] === "even" ? even : odd;
}

const pct = (x: number | null) => (x === null ? "-" : `${(100 * x).toFixed(1)}%`);

function table(r: EvalResult): string {
  const lines = [
    `${r.policy} on ${r.dataset}${r.train !== null ? ` (trained on ${r.train})` : ""}: ${r.questions} questions; ${r.small} ${pct(r.accSmall)}, ${r.large} ${pct(r.accLarge)}`,
    `priced: small $${r.prices.small.input}/$${r.prices.small.output}, large $${r.prices.large.input}/$${r.prices.large.output} per 1M tokens in/out; tokens: small ${r.tokenizers.small}, large ${r.tokenizers.large}`,
    "",
  ];
  const step = Math.max(1, Math.round(r.curve.length / 20));
  const points = r.curve.filter((_, i) => i % step === 0 || i === r.curve.length - 1);
  const all = r.costAllLargeUsd;
  lines.push(
    formatColumns(
      ["large calls", "accuracy", "PGR", "cost USD", "vs all large"],
      points.map((p) => [pct(p.share), pct(p.accuracy), p.pgr.toFixed(3), p.usd.toFixed(4), pct(p.usd / all)]),
      ["right", "right", "right", "right", "right"],
    ).trimEnd(),
    "",
    `APGR ${r.apgr.toFixed(3)}   CPT(50%) ${pct(r.cpt50)}   CPT(80%) ${pct(r.cpt80)}`,
    r.at95 === null ? "no point reaches 95% of the large model's accuracy" : `cost saved at 95% of ${r.large}'s accuracy: ${pct(r.costSavedAt95)} (${pct(r.at95.share)} large calls, accuracy ${pct(r.at95.accuracy)})`,
  );
  return lines.join("\n") + "\n";
}

function json(r: EvalResult): string {
  const { curve, at95, policy, apgr, cpt50, cpt80, costSavedAt95, ...rest } = r;
  return (
    JSON.stringify({
      policy,
      apgr,
      cpt50,
      cpt80,
      cost_saved_at_95: costSavedAt95,
      ...rest,
      at95,
      curve: curve.filter((_, i) => i % Math.max(1, Math.round(curve.length / 100)) === 0 || i === curve.length - 1),
    }) + "\n"
  );
}

export async function routeCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  let v;
  try {
    v = parseArgs({
      args: rest,
      options: { dataset: { type: "string" }, train: { type: "string" }, policy: { type: "string" }, model: { type: "string" }, out: { type: "string" }, kind: { type: "string" }, format: { type: "string" }, help: { type: "boolean", short: "h" } },
    }).values;
  } catch (e) {
    throw parseError(e);
  }
  if (v.help || sub === undefined || sub === "help") {
    process.stdout.write(ROUTE_HELP);
    return sub === undefined ? 1 : 0;
  }
  const need = (name: string, x: string | undefined) => {
    if (x === undefined) throw new InferdError("invalid_argument", `route ${sub}: --${name} is required (see inferd route --help)`, { param: name });
    return x;
  };
  switch (sub) {
    case "train": {
      const kind = v.kind ?? "router";
      if (kind !== "router" && kind !== "cascade") throw new InferdError("invalid_argument", `invalid --kind: ${JSON.stringify(kind)} (router or cascade)`, { param: "kind" });
      const d = dataset(need("dataset", v.dataset));
      if (kind === "cascade" && d.kind !== "gsm8k") throw new InferdError("invalid_argument", `--kind cascade needs the small model's answers: ${d.file} has none`, { param: "kind" });
      const model = train(d, kind === "router" ? "prompt" : "math-answer");
      const out = need("out", v.out);
      saveRouterModel(out, model);
      process.stdout.write(`trained on ${model.trained.examples} questions of ${d.file} (${model.features} features, ${model.weights.length} weights): ${out}\n`);
      return 0;
    }
    case "eval": {
      const policy = need("policy", v.policy);
      if (!(EVAL_POLICIES as readonly string[]).includes(policy)) throw new InferdError("invalid_argument", `invalid --policy: ${JSON.stringify(policy)} (${EVAL_POLICIES.join(", ")})`, { param: "policy" });
      const format = v.format ?? "table";
      if (format !== "table" && format !== "json") throw new InferdError("invalid_argument", `invalid --format: ${JSON.stringify(format)} (table or json)`, { param: "format" });
      const data = dataset(need("dataset", v.dataset));
      const r = await evaluatePolicy({
        policy: policy as EvalPolicy,
        dataset: data,
        ...(v.train !== undefined ? { train: dataset(v.train) } : {}),
        ...(v.model !== undefined ? { model: loadRouterModel(v.model).model } : {}),
      });
      process.stdout.write(format === "json" ? json(r) : table(r));
      return 0;
    }
    default:
      process.stderr.write(`inferd: unknown route command "${sub}" (train, eval)\n`);
      return 1;
  }
}
