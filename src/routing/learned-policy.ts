/**
 * The learned policy: a classifier trained offline on labelled outcomes (`inferd route train`)
 * scores the prompt with the probability that the small model would get it wrong; at or above
 * the route's threshold the large model answers. The scorer runs per request, so it must cost
 * well under a millisecond (a linear model over hashed n-grams does).
 */
import { promptText, type OneShotPolicy, type RoutedRequest, type RouteDecision } from "./policy.js";

/** A trained router: the probability (0..1) that a prompt needs the large model. */
export interface PromptScorer {
  score(prompt: string): number;
}

export class LearnedPolicy implements OneShotPolicy {
  readonly kind = "learned" as const;

  constructor(
    private readonly scorer: PromptScorer,
    private readonly small: string,
    private readonly large: string,
    private readonly threshold: number,
  ) {}

  choose(r: RoutedRequest): RouteDecision {
    const p = this.scorer.score(promptText(r.req));
    const large = p >= this.threshold;
    return { policy: "learned", model: large ? this.large : this.small, reason: `score ${p.toFixed(3)} ${large ? ">=" : "<"} ${this.threshold}`, confidence: p };
  }
}
