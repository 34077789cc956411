/**
 * The silence watch's clock (`silenceTimeoutMs`): how long the open socket has heard
 * nothing from the server. Stamped on every message with no machine step; the client
 * machine reads it when its silence delay fires, and `send()` reads it first.
 *
 * With the app's `clock`, its `now()` alone: tests drive it. Otherwise two clocks, and the
 * larger quiet time of the two:
 * - `performance.now()`, monotonic: a wall clock set back (an NTP step, a user's correction)
 *   cannot make the quiet time negative and hide a dead server for that long;
 * - `Date.now()`, the wall clock: `performance.now()` stands still while the device sleeps
 *   on most platforms but Windows (Chrome on macOS and Linux, Safari, Firefox on Linux, Node
 *   on Linux: MDN, "Ticking during sleep", and w3c/hr-time#115), so only the wall clock sees
 *   the sleep, and a `send()` after the wake would write into a socket the server closed
 *   meanwhile.
 * The price: a wall clock set forward by more than what is left of the timeout gives a
 * healthy socket up at its next check (one reconnect), as socket.io-client, which reads the
 * wall clock alone, does too.
 */
export interface SilenceClock {
  /** The socket heard the server (it opened, a message, a ping). */
  heard(): void;
  /** Milliseconds since the socket last heard the server. */
  quietForMs(): number;
}

export function createSilenceClock(appNow?: () => number): SilenceClock {
  const monotonic =
    appNow === undefined && typeof performance === 'object' && typeof performance?.now === 'function'
      ? () => performance.now()
      : undefined;
  if (monotonic === undefined) return oneClock(appNow ?? (() => Date.now()));
  let heardAt = 0;
  let heardOnWallAt = 0;
  return {
    heard: () => {
      heardAt = monotonic();
      heardOnWallAt = Date.now();
    },
    quietForMs: () => Math.max(monotonic() - heardAt, Date.now() - heardOnWallAt),
  };
}

function oneClock(now: () => number): SilenceClock {
  let heardAt = 0;
  return {
    heard: () => {
      heardAt = now();
    },
    quietForMs: () => now() - heardAt,
  };
}

/** XState's clock (src/clock.ts's Clock): the client machine's delays. */
export interface MachineClock {
  // biome-ignore lint/suspicious/noExplicitAny: mirrors XState's Clock, whose ids are opaque
  setTimeout(fn: (...args: any[]) => void, timeout: number): any;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  clearTimeout(id: any): void;
}

/** A 0 ms delay waiting for its second check phase (`setImmediate`): the immediate pending now. */
class Turn {
  immediate: NodeJS.Immediate | undefined;
}

/**
 * The client machine's clock without the app's `clock`: the platform's timers, as XState's
 * default, but for a 0 ms delay (the silence check's second look, `nextTurn`; a wait of 0 ms),
 * which is one turn of the event loop that reads the sockets: in Node, the second check phase
 * (`setImmediate`) from now, so that a poll phase begun after the delay was armed has read what
 * waited in the socket. A 0 ms timer does not promise that: armed in a `setImmediate` callback
 * it runs at the end of the same loop iteration once a millisecond has passed (libuv runs the
 * timers after the check phase), and armed after a freeze in a timer's callback while another
 * timer was due during the freeze, it runs in the same timers phase (Node's one timer handle is
 * due since, and the freeze moved the loop's clock): either way before the next poll, and the
 * second look gave up a socket whose messages waited unread (a trial's repro: 3 and 5 runs of
 * 10). One check phase is not enough either: armed in an I/O callback, the next one comes before
 * any further poll. A platform without `setImmediate` (a browser) keeps the 0 ms timer, which
 * runs after the message tasks already queued (docs/client.md, "A server gone silent").
 */
export function createMachineClock(): MachineClock {
  const platform: MachineClock = {
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (id) => clearTimeout(id),
  };
  const host = globalThis as {
    setImmediate?: unknown;
    clearImmediate?: unknown;
    process?: { versions?: { node?: unknown } };
  };
  // Node's check phase only: a browser bundle may carry a setImmediate polyfill (core-js, the
  // `setimmediate` package: message tasks), where the 0 ms timer is the turn Chromium was checked with.
  const node = typeof host.process?.versions?.node === 'string';
  if (!node || typeof host.setImmediate !== 'function' || typeof host.clearImmediate !== 'function')
    return platform;
  return {
    setTimeout: (fn, ms) => {
      if (ms > 0) return platform.setTimeout(fn, ms);
      // The globals read at each call, as src/clock.ts reads them: fake timers replace them.
      const turn = new Turn();
      turn.immediate = setImmediate(() => {
        turn.immediate = setImmediate(fn);
      });
      return turn;
    },
    clearTimeout: (id) => {
      if (id instanceof Turn) clearImmediate(id.immediate);
      else platform.clearTimeout(id);
    },
  };
}
