/** Reading a provider's events in the protocol writers. */
import type { Opened } from "../gateway/gateway.js";
import type { ProviderEvent } from "../providers/provider.js";

/** The events of an opened response, the first one included. */
export async function* eventsOf(opened: Opened): AsyncGenerator<ProviderEvent> {
  yield opened.first;
  for (let ev = await opened.rest.next(); !ev.done; ev = await opened.rest.next()) yield ev.value;
}
