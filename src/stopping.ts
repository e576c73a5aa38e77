// Telling the app that the stop has begun, so that it can end what never
// ends by itself: close its WebSockets (1001, Going Away), send a last
// Server-Sent Event, stop its timers. One AbortSignal per process, aborted
// once, whichever way the stop came (a signal, stop(), a reload replacing
// this worker). It lives on globalThis under a registered symbol: the
// command runs from a bundle while the app imports the library build, a
// second copy of this module, and both must see the one signal.

const KEY = Symbol.for('chaussette.stopping');
type Global = typeof globalThis & { [KEY]?: AbortController };
const controller: AbortController = ((globalThis as Global)[KEY] ??= new AbortController());

/** Aborted when this process begins to stop; its reason says why ("SIGTERM", "asked to stop"). */
export const stopping: AbortSignal = controller.signal;

export function announceStopping(reason: string): void {
  if (!controller.signal.aborted) controller.abort(reason);
}
