/**
 * The slice of node-llama-cpp's internal addon types inferd uses (its
 * dist/bindings/AddonTypes.d.ts, which the package's exports map does not expose), and the way
 * to reach them. Only the llama.cpp backend uses these; addon-contract.test.ts checks them at
 * run time, so an upgrade that changes them fails loudly.
 */
import type { Llama } from "node-llama-cpp";

export type BatchLogitIndex = number & { readonly __batchLogitIndex: never };
export interface AddonModel {
  tokenize(text: string, specialTokens: boolean): Uint32Array;
  detokenize(tokens: Uint32Array, specialTokens?: boolean): string;
  isEogToken(token: number): boolean;
}
export interface AddonContext {
  init(): Promise<boolean>;
  dispose(): Promise<void>;
  getContextSize(): number;
  initBatch(size: number): void;
  addToBatch(sequenceId: number, firstTokenSequenceIndex: number, tokens: Uint32Array, logitIndexes: Uint32Array): Uint32Array;
  decodeBatch(): Promise<void>;
  sampleToken(batchLogitIndex: BatchLogitIndex, sampler: AddonSampler): Promise<number>;
  sampleToken(batchLogitIndex: BatchLogitIndex, sampler: AddonSampler, probabilities: boolean): Promise<[token: number, probabilities: number[] | undefined]>;
  disposeSequence(sequenceId: number): void;
  removeTokenCellsFromSequence(sequenceId: number, startPos: number, endPos: number): boolean;
  copySequenceStateFromOtherSequence(targetSequenceId: number, sourceSequenceId: number): Promise<number>;
  saveSequenceStateToFile(filePath: string, sequenceId: number, tokens: Uint32Array): Promise<number>;
  loadSequenceStateFromFile(filePath: string, sequenceId: number, maxContextSize: number): Promise<Uint32Array>;
  setThreads(threads: number): void;
  getEmbedding(inputTokensLength: number, maxVectorSize?: number): Float64Array;
}
export type AddonGrammar = { readonly __brand: "AddonGrammar" };
export type AddonGrammarEvaluationState = { readonly __brand: "AddonGrammarEvaluationState" };
export interface AddonSamplerConfig {
  grammarEvaluationState?: AddonGrammarEvaluationState;
  temperature?: number;
  minP?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  repeatPenalty?: number;
  repeatPenaltyMaxTokens?: number;
  repeatPenaltyTokens?: Uint32Array;
  repeatPenaltyPresencePenalty?: number;
  repeatPenaltyFrequencyPenalty?: number;
  tokenBiasKeys?: Uint32Array;
  tokenBiasValues?: Float32Array;
}
export interface AddonSampler {
  dispose(): void;
  applyConfig(config: AddonSamplerConfig): void;
}
/** The addon's classes, from `Llama._bindings`. */
export interface BindingModule {
  AddonContext: new (model: AddonModel, params: Record<string, unknown>) => AddonContext;
  AddonSampler: {
    new (model: AddonModel): AddonSampler;
    acceptGrammarEvaluationStateToken(state: AddonGrammarEvaluationState, token: number): void;
  };
  AddonGrammar: new (source: string, params: { addonExports: BindingModule; rootRuleName: string }) => AddonGrammar;
  AddonGrammarEvaluationState: {
    new (model: AddonModel, grammar: AddonGrammar): AddonGrammarEvaluationState;
    /** A copy of a state (cheap: no GBNF parsing). */
    new (existing: AddonGrammarEvaluationState): AddonGrammarEvaluationState;
  };
  getIsArchSupported(architecture: string): boolean;
}

/** The addon's classes behind a loaded `Llama`. */
export function internals(llama: Llama): BindingModule {
  return (llama as unknown as { _bindings: BindingModule })._bindings;
}
