/**
 * Helpers for the machine tests: a fake socket, and a count of the delays a
 * SimulatedClock still holds.
 */
import type { SimulatedClock } from 'xstate';
import type { ConnectionEvent, TransportEventSource } from '../../machines/index.js';

/**
 * Delays not yet fired nor cancelled. SimulatedClock keeps them in a private
 * Map; if XState renames it, this throws instead of quietly counting zero.
 */
export function pendingDelays(clock: SimulatedClock): number {
  const { timeouts } = clock as unknown as { timeouts: unknown };
  if (!(timeouts instanceof Map)) throw new Error('SimulatedClock internals changed: no `timeouts` Map');
  return timeouts.size;
}

/** A fake socket: the test pushes facts into it and reads what the machines did to it. */
export class FakeTransport implements TransportEventSource {
  readonly did: string[] = [];
  subscribed = 0;
  undone = 0;
  /** The activity clock, as the test sets it: how long the peer has been quiet. */
  quietMs = Number.POSITIVE_INFINITY;
  private sink: ((event: ConnectionEvent) => void) | undefined;

  subscribe(sink: (event: ConnectionEvent) => void) {
    this.subscribed += 1;
    this.sink = sink;
    return () => {
      this.undone += 1;
      this.sink = undefined;
    };
  }

  /** When the peer was last active, as the test sets it. */
  lastActiveAt = 0;

  quietForMs(): number {
    return this.quietMs;
  }

  lastActivityAt(): number {
    return this.lastActiveAt;
  }

  /** When the session expires, on the test's clock (see `clockNow`): never unless the test sets it. */
  expiry = Number.POSITIVE_INFINITY;

  /** The test's clock as the expiry is read against: 0 unless a subclass keeps time. */
  clockNow(): number {
    return 0;
  }

  expiresInMs(): number {
    return this.expiry - this.clockNow();
  }

  /** A ping went out and no pong came since: the test's `sendPing` sets it, `pong()` clears it. */
  pingOutstanding = false;

  pongOutstanding(): boolean {
    return this.pingOutstanding;
  }

  /** The peer's pong: a note the next heartbeat reads, no event (as the real transport). */
  pong() {
    this.pingOutstanding = false;
  }

  push(event: ConnectionEvent) {
    if (this.sink === undefined) throw new Error(`${event.type} pushed to a transport nobody listens to`);
    this.sink(event);
  }
}

export const asFake = (context: { transport: TransportEventSource }) => context.transport as FakeTransport;
