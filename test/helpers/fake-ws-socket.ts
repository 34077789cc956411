/**
 * ws's WebSocket as the client's socket actor sees it, for unit tests that drive one by hand:
 * the DOM-style listeners it adds (`addEventListener`) and the EventEmitter side ws also has
 * (its `upgrade` event carries the TCP socket). Each test file extends it with what its sockets do.
 */
import { EventEmitter } from 'node:events';

export type Listener = (event?: unknown) => void;

export class FakeWsSocket extends EventEmitter {
  readyState = 0;
  binaryType = 'nodebuffer';
  readonly domListeners = new Map<string, Set<Listener>>();
  constructor(readonly url: string) {
    super();
  }
  addEventListener(type: string, listener: Listener): void {
    const set = this.domListeners.get(type) ?? new Set();
    set.add(listener);
    this.domListeners.set(type, set);
  }
  removeEventListener(type: string, listener: Listener): void {
    this.domListeners.get(type)?.delete(listener);
  }
  /** Calls the listeners of `type` added before this call (one added meanwhile waits for the next). */
  protected fire(type: string, event?: unknown): void {
    for (const listener of [...(this.domListeners.get(type) ?? [])]) listener(event);
  }
}
