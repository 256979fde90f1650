/**
 * What the protocol handlers reach the gateway through: `open` starts a response with its books
 * kept (limits, price, ledger row: see Accountant) and makes sure, when the request is over,
 * that its row is written even if the writer stopped reading.
 */
import type { Accountant, Accounted } from "../gateway/accountant.js";
import type { Gateway } from "../gateway/gateway.js";
import type { ProviderRequest } from "../providers/provider.js";
import type { RequestScope } from "./request-scope.js";

export interface Api {
  gateway: Gateway;
  accountant: Accountant;
  open(model: string, req: Omit<ProviderRequest, "model">, scope: RequestScope): Promise<Accounted>;
}

export function apiOf(accountant: Accountant): Api {
  return {
    gateway: accountant.gateway,
    accountant,
    async open(model, req, scope) {
      const accounted = await accountant.open(scope.info, model, req);
      scope.atEnd(() => accounted.end());
      return accounted;
    },
  };
}
