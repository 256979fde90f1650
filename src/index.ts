/** inferd's library API. */
export { Engine } from "./engine/engine.js";
export type { EngineOptions, GenerateEvent, GenerateOptions, GenerateStats } from "./engine/engine.js";
export type { GenerateParams } from "./engine/params.js";
export type { FinishReason } from "./engine/sequence.js";
export type { StepStats } from "./engine/engine-core.js";
export type { ModelInfo, KvLayout, GrammarSpec } from "./backend/backend.js";
export type { TokenLogprobInfo } from "./output/output-processor.js";
export { InferdError, isInferdError } from "./util/errors.js";
export type { InferdErrorKind } from "./util/errors.js";
export { resolveModel, DEFAULT_MODEL } from "./models/resolve.js";
export { availableCpus } from "./backend/threads.js";
export type { Drafter, DraftRequest, Draft } from "./spec/drafter.js";
export type { SpecStats } from "./spec/controller.js";
export { CpuArbiter } from "./engine/cpu-arbiter.js";
export { ModelPool, DEFAULT_TTL_MS } from "./providers/local/model-pool.js";
export type { PooledModel, Lease, ModelPoolOptions, PoolEntry, SlotState } from "./providers/local/model-pool.js";
export { estimateMemory, defaultMemoryBudgetBytes } from "./providers/local/memory-estimate.js";
export type { MemoryEstimate } from "./providers/local/memory-estimate.js";
