/**
 * What the protocol handlers reach the gateway through: the gateway itself, and `open`, which
 * starts a response and records its usage (metrics now, the ledger later) as the usage event
 * passes, whoever reads the rest of the events.
 */
import type { Gateway, Opened } from "../gateway/gateway.js";
import type { FinishReason, ProviderEvent, ProviderRequest, Usage } from "../providers/provider.js";

export interface Api {
  gateway: Gateway;
  open(model: string, req: Omit<ProviderRequest, "model">): Promise<Opened>;
}

/** An `Api` whose `open` calls `record` once per request, with its usage and its first choice's finish. */
export function accountedApi(gateway: Gateway, record: (route: string, usage: Usage, finish: FinishReason) => void): Api {
  return {
    gateway,
    async open(model, req) {
      const opened = await gateway.open(model, req);
      let finish: FinishReason | undefined;
      const watch = (e: ProviderEvent) => {
        if (e.type === "finish" && e.choice === 0) finish = e.reason;
        else if (e.type === "usage") record(opened.route.name, e.usage, finish ?? "stop");
      };
      watch(opened.first);
      const rest = opened.rest;
      return {
        ...opened,
        rest: {
          async next() {
            const r = await rest.next();
            if (!r.done) watch(r.value);
            return r;
          },
        },
      };
    },
  };
}
