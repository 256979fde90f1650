/**
 * Two engines on one CpuArbiter, on the real stories260K model: their computations never
 * overlap, busy engines take turns step by step, and each produces exactly its own output.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CpuArbiter, Engine, type EngineOptions } from "../src/index.js";
import { needsShared, STORIES, storiesReference } from "./shared.js";

/** Counts the native computations (decode steps, embeddings) in flight across engines. */
class Flight {
  now = 0;
  max = 0;
  /** The engine of each computation ("A" a decode step, "A:embed" an embedding), in the order they started. */
  readonly runs: string[] = [];

  /** Wraps `engine`'s backend so that its computations are counted under `tag`. */
  watch(engine: Engine, tag: string): void {
    const b = engine.backend;
    const run = b.run.bind(b);
    const embed = b.embed.bind(b);
    b.run = (plan) => {
      this.runs.push(tag);
      return this.count(run(plan));
    };
    b.embed = (tokens) => {
      this.runs.push(`${tag}:embed`);
      return this.count(embed(tokens));
    };
  }

  private async count<T>(p: Promise<T>): Promise<T> {
    this.max = Math.max(this.max, ++this.now);
    try {
      return await p;
    } finally {
      this.now--;
    }
  }
}

async function greedyText(engine: Engine, maxTokens = 200): Promise<string> {
  let text = "";
  for await (const ev of engine.generate("", { temperature: 0, maxTokens })) if (ev.type === "delta") text += ev.text;
  return text;
}

const INPUTS = Array.from({ length: 12 }, (_, i) => `Lily went to the park ${i} times`);

describe("CpuArbiter shared by two engines (stories260K)", needsShared, () => {
  const options: EngineOptions = { model: STORIES!, threads: 1, maxSequences: 2, kvTierBytes: 0 };
  const engines: Engine[] = [];
  let embedAlone: number[][];

  before(async () => {
    const alone = await Engine.load(options);
    embedAlone = (await alone.embed(INPUTS)).map((e) => e.embedding);
    await alone.dispose();
  });
  after(async () => {
    for (const e of engines) await e.dispose();
  });

  async function pair(cpu: CpuArbiter | undefined): Promise<[Engine, Engine, Flight]> {
    const a = await Engine.load({ ...options, cpu });
    const b = await Engine.load({ ...options, cpu });
    engines.push(a, b);
    const flight = new Flight();
    flight.watch(a, "A");
    flight.watch(b, "B");
    return [a, b, flight];
  }

  it("control: without an arbiter the instrument sees the two engines' steps overlap", async () => {
    const [a, b, flight] = await pair(undefined);
    const [ta, tb] = await Promise.all([greedyText(a, 40), greedyText(b, 40)]);
    assert.equal(flight.max, 2);
    assert.equal(ta, tb);
  });

  it("with one: never two steps in flight, strict turns while both are busy, reference text from both", async () => {
    const cpu = new CpuArbiter();
    const [a, b, flight] = await pair(cpu);
    const [ta, tb] = await Promise.all([greedyText(a), greedyText(b)]);
    assert.equal(flight.max, 1, "two decode steps were in flight at once");
    assert.equal(ta, storiesReference());
    assert.equal(tb, storiesReference());
    // both were busy until one had its 200 steps: until then, every step alternates
    const both = Math.min(flight.runs.lastIndexOf("A"), flight.runs.lastIndexOf("B"));
    assert.ok(both >= 398, `both engines stepped together (${flight.runs.length} steps)`);
    const turns = flight.runs.slice(0, both + 1).join("");
    assert.equal(turns, "AB".repeat(turns.length).slice(0, turns.length), "busy engines take turns");
    assert.ok(!cpu.busy && cpu.waiting === 0, "the arbiter is free when both are idle");
  });

  it("embeddings hold the arbiter too: no overlap with the other engine's steps, same vectors as alone", async () => {
    const cpu = new CpuArbiter();
    const [a, b, flight] = await pair(cpu);
    const [vectors, text] = await Promise.all([a.embed(INPUTS), greedyText(b)]);
    assert.equal(flight.max, 1);
    const first = flight.runs.indexOf("A:embed");
    const last = flight.runs.lastIndexOf("A:embed");
    assert.ok(flight.runs.slice(first, last).includes("B"), "the other engine stepped while the embeddings ran");
    assert.equal(text, storiesReference());
    assert.deepEqual(vectors.map((v) => v.embedding), embedAlone);
  });
});
