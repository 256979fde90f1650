/**
 * What a model on this machine costs per token and how many machines a load needs, from its
 * measured throughput and the machine's price per hour. Throughput is the machine's, all
 * requests together, at the batch size it was measured at: a machine prefilling 2,000 prompt
 * tokens a second at $0.126 an hour charges a million prompt tokens 500 s of its hour.
 */
import { InferdError } from "../util/errors.js";
import { add, ceil, div, money, mul, q, qToNumber, sub, usd, usdString, type Money, type Q } from "./money.js";

/** A local model's measured throughput on one machine, and that machine's price. */
export interface LocalThroughput {
  /** The model's name (as the config or the capacity planner calls it). */
  model: string;
  /** Prompt tokens prefilled per second, all requests together. */
  inputTokensPerSecond: number;
  /** Tokens generated per second, all requests together. */
  outputTokensPerSecond: number;
  /** The machine's cost per hour (see DEFAULT_MACHINE_USD_PER_HOUR). */
  usdPerHour: number;
  /** The batch size the throughput was measured at (shown; the figures are what matter). */
  batchSize?: number;
}

function check(t: LocalThroughput): void {
  const bad = (what: string) => new InferdError("invalid_argument", `local throughput of "${t.model}": ${what}`, { param: "local" });
  if (!(Number.isFinite(t.inputTokensPerSecond) && t.inputTokensPerSecond > 0)) throw bad(`inputTokensPerSecond must be > 0, not ${t.inputTokensPerSecond}`);
  if (!(Number.isFinite(t.outputTokensPerSecond) && t.outputTokensPerSecond > 0)) throw bad(`outputTokensPerSecond must be > 0, not ${t.outputTokensPerSecond}`);
  if (!(Number.isFinite(t.usdPerHour) && t.usdPerHour >= 0)) throw bad(`usdPerHour must be >= 0, not ${t.usdPerHour}`);
}

const SECONDS_PER_HOUR = q(3600);
const MILLION = q(1_000_000);

/** USD per 1M tokens of a local model: the machine's seconds per 1M tokens at its hourly price. */
export function localPricePerMillion(t: LocalThroughput): { input: number; output: number; inputExact: string; outputExact: string } {
  check(t);
  const perSecond = div(q(t.usdPerHour), SECONDS_PER_HOUR);
  const input = money(mul(div(MILLION, q(t.inputTokensPerSecond)), perSecond));
  const output = money(mul(div(MILLION, q(t.outputTokensPerSecond)), perSecond));
  return { input: usd(input), output: usd(output), inputExact: usdString(input), outputExact: usdString(output) };
}

/** A day's load of identical requests. */
export interface RequestLoad {
  requestsPerDay: number;
  /** Prompt tokens per request. */
  inputTokens: number;
  /** Output tokens per request. */
  outputTokens: number;
  /** Share of the prompt tokens read from a cache (0..1): prefill skips them. */
  cachedShare: number;
}

/** What a load needs of a local model's machines, and what they cost. */
export interface LocalCapacity {
  /** Machine-seconds of compute a request takes (prefill of its uncached prompt, then decode). */
  computeSecondsPerRequest: number;
  /** Machine-seconds of compute needed per second of the day, on average. */
  computeSecondsPerSecond: number;
  /** Machines of this kind the load needs: computeSecondsPerSecond rounded up (at least 1). */
  machines: number;
  /** How busy those machines are on average (0..1). */
  utilization: number;
  /** A request's share of a fully busy machine's hour. */
  perRequest: Money;
  /** The machines' cost for `days` days, whole hours, busy or not. */
  total: Money;
}

/**
 * Machines needed for an even load over the day (peaks need more: this is the floor) and what
 * they cost over `days` days. Exact: a load needing exactly 2.0 machine-seconds per second
 * needs 2 machines, not 3.
 */
export function localCapacity(t: LocalThroughput, load: RequestLoad, days: number): LocalCapacity {
  check(t);
  const prompt = mul(q(load.inputTokens), sub(q(1), q(load.cachedShare)));
  const perRequest: Q = add(div(prompt, q(t.inputTokensPerSecond)), div(q(load.outputTokens), q(t.outputTokensPerSecond)));
  const perSecond = div(mul(perRequest, q(load.requestsPerDay)), q(86_400));
  let machines = ceil(perSecond);
  if (machines < 1n) machines = 1n;
  const hourly = q(t.usdPerHour);
  return {
    computeSecondsPerRequest: qToNumber(perRequest),
    computeSecondsPerSecond: qToNumber(perSecond),
    machines: Number(machines),
    utilization: qToNumber(div(perSecond, q(machines))),
    perRequest: money(mul(perRequest, div(hourly, SECONDS_PER_HOUR))),
    total: money(mul(mul(q(machines), hourly), q(24 * days))),
  };
}
