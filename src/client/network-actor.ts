/**
 * The client machine's `network` actor: the platform's `online` and `offline`
 * events (a browser's window, a worker's scope). Invoked by `waiting` for
 * `online` (NETWORK_ONLINE: a backoff after a lost network ends once the
 * network is back), by `connecting` for `online` too (an attempt under way,
 * perhaps made while offline, is abandoned for a fresh one; the machine acts on one
 * `online` until the network is lost again, see machines/client.machine.ts) and by
 * `waiting` for `offline` too (the next `online` is acted on again) and by
 * `connection` for `offline` (NETWORK_OFFLINE: the
 * socket is given up at once instead of waiting minutes for TCP). Its undo,
 * run whenever that state is left, removes the one listener it added. Where
 * the platform fires no such event (Node), or the app turned it off
 * (`reconnectOnOnline: false`, `closeOnOffline: false`), it adds nothing.
 */
import { fromCallback } from 'xstate';
import type { ClientEvent, ClientNetworkInput } from '../../machines/client.machine.js';

type NetworkTarget = Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;

/** Which of the two events the app lets the client act on. */
export interface NetworkEvents {
  online: boolean;
  offline: boolean;
}

const REPORTS = { online: 'NETWORK_ONLINE', offline: 'NETWORK_OFFLINE' } as const;

export function createNetworkActor(enabled: NetworkEvents) {
  return fromCallback<ClientEvent, ClientNetworkInput>(({ sendBack, input }) => {
    // Read at each invocation, not once: a test (or a polyfill) may install the target later.
    const target = globalThis as Partial<NetworkTarget>;
    if (
      !enabled[input.event] ||
      typeof target.addEventListener !== 'function' ||
      typeof target.removeEventListener !== 'function'
    ) {
      return () => {};
    }
    const { addEventListener, removeEventListener } = target as NetworkTarget;
    const type = REPORTS[input.event];
    const listener = () => sendBack({ type });
    addEventListener.call(globalThis, input.event, listener);
    return () => removeEventListener.call(globalThis, input.event, listener);
  });
}
