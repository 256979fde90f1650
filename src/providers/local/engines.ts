/**
 * Where a local provider's engines come from: fixed engines loaded at start (`inferd serve
 * --model`), or a pool that loads them on first use under a memory budget. A lease keeps its
 * engine loaded while a request runs on it.
 */
import type { Engine } from "../../engine/engine.js";
import { InferdError } from "../../util/errors.js";

export interface EngineLease {
  engine: Engine;
  release(): void;
}

export interface EngineSource {
  /** The engine of `model`, loading it if need be; waits (bounded by `signal`) when memory is busy. */
  acquire(model: string, signal?: AbortSignal): Promise<EngineLease>;
  /** The engine of `model` if it is loaded now, without loading it (gauges, context windows). */
  peek(model: string): Engine | undefined;
  /** The models it can serve. */
  names(): string[];
  close(): Promise<void>;
}

/** Engines loaded up front, one per name. */
export class FixedEngines implements EngineSource {
  constructor(private readonly engines: ReadonlyMap<string, Engine>) {}

  async acquire(model: string): Promise<EngineLease> {
    const engine = this.engines.get(model);
    if (engine === undefined) throw new InferdError("model_not_found", `no local model "${model}"`, { param: "model" });
    return { engine, release: () => {} };
  }

  peek(model: string): Engine | undefined {
    return this.engines.get(model);
  }

  names(): string[] {
    return [...this.engines.keys()];
  }

  async close(): Promise<void> {
    for (const e of this.engines.values()) await e.dispose();
  }
}
