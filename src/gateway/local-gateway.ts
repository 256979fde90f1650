/**
 * The gateway of `inferd serve --model ...` (and of tests): models loaded here, one route per
 * model under its own name, answered by one local provider.
 */
import type { Engine } from "../engine/engine.js";
import { FixedEngines } from "../providers/local/engines.js";
import { LocalProvider } from "../providers/local/local-provider.js";
import { Gateway } from "./gateway.js";

export function localGateway(engines: ReadonlyMap<string, Engine>): Gateway {
  const provider = new LocalProvider("local", new FixedEngines(engines));
  return new Gateway([...engines.keys()].map((name) => ({ name, provider, model: name, fallbacks: [] })));
}
