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
