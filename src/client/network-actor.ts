/**
 * The client machine's `network` actor, invoked by its `waiting` state: it
 * reports NETWORK_ONLINE when the platform fires `online` (a browser's window,
 * a worker's scope), so that a backoff after a lost network ends once the
 * network is back. Its undo, run whenever `waiting` is left, removes the one
 * listener it added. Where the platform fires no such event (Node), or the app
 * turned it off (`reconnectOnOnline: false`), it adds nothing.
 */
import { fromCallback } from 'xstate';
import type { ClientEvent } from '../../machines/client.machine.js';

type OnlineTarget = Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;

export function createNetworkActor(enabled: boolean) {
  return fromCallback<ClientEvent>(({ sendBack }) => {
    // Read at each wait, not once: a test (or a polyfill) may install the target later.
    const target = globalThis as Partial<OnlineTarget>;
    if (
      !enabled ||
      typeof target.addEventListener !== 'function' ||
      typeof target.removeEventListener !== 'function'
    ) {
      return () => {};
    }
    const { addEventListener, removeEventListener } = target as OnlineTarget;
    const online = () => sendBack({ type: 'NETWORK_ONLINE' });
    addEventListener.call(globalThis, 'online', online);
    return () => removeEventListener.call(globalThis, 'online', online);
  });
}
