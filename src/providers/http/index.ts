/**
 * The upstream HTTP layer the hosted providers (OpenAI-compatible, Anthropic) are built on: one
 * `Upstream` per configured upstream, its key from `resolveApiKey`, and the errors it throws.
 * Tests of those providers script failures with `FaultUpstream` (./fault-upstream.js).
 */
export { resolveApiKey } from "./api-key.js";
export { TIMEOUT_DEFAULTS, type UpstreamTimeouts } from "./call-scope.js";
export { CIRCUIT_DEFAULTS, type CircuitOptions, type CircuitState } from "./circuit-breaker.js";
export { RETRY_DEFAULTS, type RetryOptions } from "./retry-policy.js";
export { parseSse, type SseEvent, type SseOptions } from "./sse.js";
export { Upstream, type PostOptions, type UpstreamAuth, type UpstreamDeps, type UpstreamOptions } from "./upstream.js";
export { UpstreamStatusError, type TimeoutKind } from "./upstream-errors.js";
export { MAX_BODY_BYTES, UpstreamResponse, type ResponseHeaders } from "./upstream-response.js";
