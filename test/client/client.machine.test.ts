/**
 * The client statechart alone: no sockets, simulated time, a fixed sequence
 * of random numbers. The socket actor is a fake that records each attempt and
 * whether its undo ran; the test plays the socket's facts into the actor.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, SimulatedClock } from 'xstate';
import { reconnectWithinMsOf } from '../../machines/client-close.js';
import {
  type ClientEmitted,
  type ClientEvent,
  type ClientInput,
  type ClientNetworkInput,
  type ClientSilence,
  clientMachine,
  closeKindOf,
  closeMessageOf,
  dispositionOf,
  retryAfterMsOf,
} from '../../machines/index.js';
import { createCountingClock } from '../../src/clock.js';
import { statesNotHandling } from '../model/graph-checks.js';

const input = (random: number[] = [0.5]): ClientInput => {
  let i = 0;
  return {
    backoff: { baseMs: 1_000, capMs: 8_000, factor: 2 },
    shutdownWindowMs: 20_000,
    connectTimeoutMs: 5_000,
    stableAfterMs: 3_000,
    closeTimeoutMs: 2_000,
    // Cycles through the given numbers, so a test knows every jitter in advance.
    random: () => random[i++ % random.length] as number,
  };
};

/** `silence`, if given, builds the silence watch on the test's simulated clock (its `now`). */
function startClient(random?: number[], silence?: (now: () => number) => ClientSilence) {
  const simulated = new SimulatedClock();
  const clock = createCountingClock(simulated);
  /** One entry per socket the machine asked for: is it still held? */
  const sockets: { live: boolean }[] = [];
  const emitted: ClientEmitted[] = [];
  /** How many times the machine asked for its socket's close handshake (closeSocket). */
  const handshakes = { started: 0 };
  const machine = clientMachine.provide({
    actions: {
      closeSocket: () => {
        handshakes.started += 1;
      },
    },
    actors: {
      socket: fromCallback<ClientEvent>(() => {
        const socket = { live: true };
        sockets.push(socket);
        return () => {
          socket.live = false;
        };
      }),
    },
  });
  const silenceWatch = silence?.(() => simulated.now());
  const actor = createActor(machine, {
    input: silenceWatch === undefined ? input(random) : { ...input(random), silence: silenceWatch },
    clock,
  });
  for (const type of ['open', 'close', 'reconnecting'] as const) {
    actor.on(type, (event) => emitted.push(event));
  }
  actor.start();
  return {
    actor,
    clock,
    sockets,
    emitted,
    handshakes,
    advance: (ms: number) => simulated.increment(ms),
    /** The simulated time now. */
    now: () => simulated.now(),
    value: () => actor.getSnapshot().value,
    closeWith: (code: number, reason = '') =>
      actor.send({ type: 'SOCKET_CLOSED', code, reason, wasClean: code !== 1006 }),
    /**
     * A close with a retry hint of `seconds`: in a close frame's reason, or for a 1006 (which no
     * close frame carries) as the field a refused upgrade's Retry-After header gives.
     */
    closeWithHint: (code: number, seconds: number) =>
      actor.send(
        code === 1006
          ? {
              type: 'SOCKET_CLOSED',
              code,
              reason: 'HTTP 502 Bad Gateway',
              wasClean: false,
              retryAfterMs: seconds * 1000,
            }
          : { type: 'SOCKET_CLOSED', code, reason: `later retry-after=${seconds}`, wasClean: true },
      ),
  };
}

describe('close codes', () => {
  it.each([
    [1000, 'suspend-until-resumed', 'normal'],
    [1001, 'spread', 'shutdown'],
    [1006, 'backoff', 'abnormal'],
    [1011, 'backoff', 'other'],
    [1012, 'spread', 'shutdown'],
    [4001, 'suspend-until-active', 'evicted'],
    [4002, 'reconnect-now', 'session-expired'],
    [4008, 'backoff', 'slow-consumer'],
    [4009, 'backoff', 'message-rate-exceeded'],
    [4400, 'suspend-until-resumed', 'bad-request'],
    [4401, 'suspend-until-resumed', 'unauthenticated'],
    [4403, 'suspend-until-resumed', 'forbidden'],
    [4429, 'backoff', 'too-many-requests'],
    [4500, 'backoff', 'auth-failed'],
    [4503, 'backoff', 'unavailable'],
    [4404, 'suspend-until-resumed', 'other'],
    [3000, 'backoff', 'other'],
  ])('%i: %s (%s)', (code, disposition, kind) => {
    expect(dispositionOf(code)).toBe(disposition);
    expect(closeKindOf(code)).toBe(kind);
  });

  it.each([
    ['evicted: idle', 'suspend-until-active'],
    ['evicted: over the limit', 'backoff'],
    ['evicted: over the limit retry-after=5', 'backoff'],
    ['evicted: over the limits', 'suspend-until-active'],
    ['evicted: superseded', 'suspend-until-resumed'],
    ['evicted: superseded retry-after=5', 'suspend-until-resumed'],
    // atLimit 'replace-oldest': the user signed in elsewhere; coming back would evict that one.
    ['evicted: replaced', 'suspend-until-resumed'],
    ['evicted: replaced retry-after=5', 'suspend-until-resumed'],
  ])('4001 with the reason "%s": %s', (reason, disposition) => {
    expect(dispositionOf(4001, reason)).toBe(disposition);
  });

  it.each([
    ['user connection limit reached retry-after=5', 5_000, 'user connection limit reached'],
    ['shutting down retry-after=0', 0, 'shutting down'],
    ['retry-after=5', undefined, 'retry-after=5'], // the hint follows a message and a space
    ['limit retry-after=5 ', undefined, 'limit retry-after=5 '], // and ends the reason
    ['limit retry-after=1.5', undefined, 'limit retry-after=1.5'], // in whole seconds
    ['', undefined, ''],
  ])('reads the retry hint of %j', (reason, ms, message) => {
    expect(retryAfterMsOf(reason)).toBe(ms);
    expect(closeMessageOf(reason)).toBe(message);
  });

  // A paced shutdown's window (ops trial). retryAfterMsOf is what a client of an earlier
  // version reads: nothing, so it spreads over its own shutdownWindowMs as before.
  it.each([
    ['server shutting down reconnect-within-ms=1000', 1_000, 'server shutting down'],
    ['server shutting down reconnect-within-ms=1000 retry-after=2', 1_000, 'server shutting down'],
    [
      'server shutting down reconnect-within-ms=1.5',
      undefined,
      'server shutting down reconnect-within-ms=1.5',
    ],
    ['reconnect-within-ms=1000', undefined, 'reconnect-within-ms=1000'], // it follows a message and a space
    ['server shutting down', undefined, 'server shutting down'],
  ])('reads the paced shutdown window of %j', (reason, ms, message) => {
    expect(reconnectWithinMsOf(reason)).toBe(ms);
    expect(closeMessageOf(reason)).toBe(message);
    if (!reason.endsWith('retry-after=2')) expect(retryAfterMsOf(reason)).toBeUndefined();
  });
});

describe('the client machine', () => {
  it('connects, opens, and backs off with full jitter after 1006, doubling the ceiling each time', () => {
    const c = startClient([0.5, 0.25, 1 - 2 ** -20]);
    expect(c.value()).toEqual({ connection: 'connecting' });
    c.actor.send({ type: 'SOCKET_OPENED' });
    expect(c.value()).toEqual({ connection: { open: 'unwatched' } });

    c.closeWith(1006);
    expect(c.value()).toBe('waiting');
    expect(c.sockets.map((s) => s.live)).toEqual([false]);
    // attempt 0: 0.5 × min(8000, 1000 × 2^0)
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 500, attempt: 1 });
    c.advance(499);
    expect(c.value()).toBe('waiting');
    c.advance(1);
    expect(c.value()).toEqual({ connection: 'connecting' });
    expect(c.sockets).toHaveLength(2);

    c.closeWith(1006); // a failed connect: 0.25 × 2000
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 500, attempt: 2 });
    c.advance(500);
    c.closeWith(1006); // almost 1 × 4000
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 4_000, attempt: 3 });
    c.advance(4_000);
    c.closeWith(1006); // 0.5 × min(8000, 8000)
    c.advance(4_000);
    c.closeWith(1006); // 0.25 × min(8000, 16000): capped
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 2_000, attempt: 5 });
  });

  it('reports the close it acts on, with the hint parsed', () => {
    const c = startClient();
    c.closeWith(4429, 'user connection limit reached retry-after=5');
    expect(c.emitted[0]).toEqual({
      type: 'close',
      code: 4429,
      reason: 'user connection limit reached',
      retryAfterMs: 5_000,
      wasClean: true,
    });
  });

  it('waits at least the retry hint after 4429 and 4503, plus the jitter (over at least half the hint)', () => {
    const c = startClient([0.5]);
    c.closeWith(4429, 'too many retry-after=5');
    // 5 s, plus 0.5 of max(the first step, 1 s; half the hint, 2.5 s).
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 6_250, attempt: 1 });
    c.advance(6_249);
    expect(c.value()).toBe('waiting');
    c.advance(1);
    // 2 s, plus 0.5 of the second step (2 s), wider than half the hint.
    c.closeWith(4503, 'shutting down retry-after=2');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 3_000, attempt: 2 });
  });

  it('spreads the clients refused together with one hint over half the hint after it, never sooner (a 5 s hint: 5 to 7.5 s)', () => {
    // 100 clients refused by one 503 with a 5 s hint, each drawing its own jitter (evenly spread
    // draws in [0, 1)): under a jitter of the first step alone (1 s here) they came back within
    // 1 s of each other, a wave; the window after the hint is max(step, hint / 2).
    const delays: number[] = [];
    for (let k = 0; k < 100; k++) {
      const c = startClient([k / 100]);
      c.closeWith(4503, 'overloaded retry-after=5');
      delays.push((c.emitted.at(-1) as { delayMs: number }).delayMs);
      c.actor.stop();
    }
    expect(Math.min(...delays)).toBe(5_000);
    expect(Math.max(...delays)).toBeGreaterThanOrEqual(7_475);
    expect(Math.max(...delays)).toBeLessThan(7_500);
    // No more than a share of them in any 250 ms: 100 over 2.5 s is 10 in each.
    for (let from = 5_000; from < 7_500; from += 250) {
      expect(delays.filter((d) => d >= from && d < from + 250).length).toBeLessThanOrEqual(11);
    }
  });

  it('jitters over the backoff step where it outgrows half the hint, and a large hint still within the longest timer', () => {
    const c = startClient([0.5]);
    // 1 s hint: half of it (0.5 s) is below the first step (1 s): the step's jitter, as without a hint.
    c.closeWith(4429, 'too many retry-after=1');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 1_500, attempt: 1 });
    c.advance(1_500);
    // A 60 s hint spreads over 60 to 90 s.
    c.closeWith(4503, 'maintenance retry-after=60');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 75_000, attempt: 2 });
    c.advance(75_000);
    // A hint near the longest timer: the wait is cut to it, never more.
    c.closeWith(4503, 'maintenance retry-after=2000000');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 2_147_483_647, attempt: 3 });
  });

  it('spreads the return after 1001 over the shutdown window, without growing the backoff', () => {
    const c = startClient([0.75]);
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.closeWith(1001, 'server shutting down');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 15_000, attempt: 0 });
    c.advance(15_000);
    expect(c.value()).toEqual({ connection: 'connecting' });
  });

  // Review: the paced shutdown's hint is read on 1001 and 1012 only (docs/client.md); another
  // code's reason that happens to end so is the app's own text, kept whole.
  it('reads reconnect-within-ms on 1001 and 1012 only: a 4000 keeps its reason whole', () => {
    const c = startClient([0.5]);
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.closeWith(4000, 'app: retry reconnect-within-ms=5');
    const close = c.emitted.find((event) => event.type === 'close');
    expect(close).toMatchObject({ code: 4000, reason: 'app: retry reconnect-within-ms=5' });
    expect(close !== undefined && 'reconnectWithinMs' in close).toBe(false);
    expect(reconnectWithinMsOf('app: retry reconnect-within-ms=5', 4000)).toBeUndefined();
    expect(closeMessageOf('app: retry reconnect-within-ms=5 retry-after=2', 4000)).toBe(
      'app: retry reconnect-within-ms=5',
    );
    for (const code of [1001, 1012]) {
      expect(reconnectWithinMsOf('server shutting down reconnect-within-ms=5', code)).toBe(5);
      expect(closeMessageOf('server shutting down reconnect-within-ms=5', code)).toBe('server shutting down');
    }
  });

  // Review: a 1006's reason is the client's own words (a url() hook's error, a transport
  // error's message), never a server's token: a refused upgrade names its reason as a field.
  it("reads a refusal from a 1006's field only, never from its reason, whose words stay whole", () => {
    const c = startClient([0.5]);
    c.actor.send({
      type: 'SOCKET_CLOSED',
      code: 1006,
      reason: 'read ECONNRESET refusal=user-limit',
      wasClean: false,
    });
    c.advance(60_000);
    c.actor.send({
      type: 'SOCKET_CLOSED',
      code: 1006,
      reason: 'HTTP 500 Internal Server Error: internal error',
      wasClean: false,
      refusal: 'internal-error',
    });
    const closes = c.emitted.filter((event) => event.type === 'close');
    expect(closes).toMatchObject([
      { code: 1006, reason: 'read ECONNRESET refusal=user-limit', refusal: undefined },
      { code: 1006, reason: 'HTTP 500 Internal Server Error: internal error', refusal: 'internal-error' },
    ]);
    expect(closeMessageOf('cannot connect: said refusal=user-limit', 1006)).toBe(
      'cannot connect: said refusal=user-limit',
    );
  });

  // Review: a 1006's reason is the client's own words (a url() hook's error, a transport
  // error's message), never a server's hint: a refused upgrade gives its Retry-After as a field.
  it("reads a retry hint from a 1006's field only, never from its reason, whose words stay whole", () => {
    const c = startClient([0.5]);
    c.closeWith(1006, 'cannot connect: token service busy retry-after=30');
    // The backoff's first step (0.5 × 1000), not 30 s on a hint no server gave.
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 500, attempt: 1 });
    c.advance(500);
    c.closeWith(1006, 'read ECONNRESET retry-after=2147483648'); // 24.8 days, were it read
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 1_000, attempt: 2 });
    c.advance(1_000);
    c.closeWithHint(1006, 7); // a refused 502's Retry-After: 7
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 7_000 + 0.5 * 4_000, attempt: 3 });
    c.advance(9_000);
    // A close frame's hint is read as before, whatever its code (an app's close on an open socket).
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.closeWith(4503, 'maintenance retry-after=60');
    const closes = c.emitted.filter((event) => event.type === 'close');
    expect(closes).toMatchObject([
      { code: 1006, reason: 'cannot connect: token service busy retry-after=30', retryAfterMs: undefined },
      { code: 1006, reason: 'read ECONNRESET retry-after=2147483648', retryAfterMs: undefined },
      { code: 1006, reason: 'HTTP 502 Bad Gateway', retryAfterMs: 7_000 },
      { code: 4503, reason: 'maintenance', retryAfterMs: 60_000 },
    ]);
    expect(retryAfterMsOf('cannot connect: busy retry-after=30', 1006)).toBeUndefined();
    expect(retryAfterMsOf('cannot connect: busy retry-after=30')).toBe(30_000); // no code: as before
    expect(retryAfterMsOf('maintenance retry-after=60', 4503)).toBe(60_000);
    expect(closeMessageOf('cannot connect: busy retry-after=30', 1006)).toBe(
      'cannot connect: busy retry-after=30',
    );
  });

  it('after a 1001 with a retry hint, spreads the return over the window after the hint', () => {
    const c = startClient([0.5]);
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.closeWith(1001, 'server shutting down retry-after=3');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 13_000, attempt: 0 });
  });

  it('after 4002 (session expired) on a stable connection reconnects at once, neither backed off nor counted as a failure', () => {
    const c = startClient([0.5]);
    c.closeWith(1006); // one failed attempt first: the backoff has grown
    c.advance((c.emitted.at(-1) as { delayMs: number }).delayMs);
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.advance(3_000); // stableAfterMs: the session lasted, as a real one does (a heartbeat or more)
    c.closeWith(4002, 'session expired');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 0, attempt: 0 });
    c.advance(0);
    expect(c.value()).toEqual({ connection: 'connecting' });
    // A retry hint is still honoured, without jitter.
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.advance(3_000);
    c.closeWith(4002, 'session expired retry-after=2');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 2_000, attempt: 0 });
    // Not counted: the next failure backs off from the first step.
    c.advance(2_000);
    c.closeWith(1006);
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 500, attempt: 1 });
  });

  it('backs off a 4002 that comes before the connection is stable: a server that ends every connection so cannot make a loop', () => {
    const c = startClient([0.5]);
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.advance(2_999);
    c.closeWith(4002, 'session expired');
    expect(c.emitted.at(-2)).toMatchObject({ type: 'close', code: 4002 });
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 500, attempt: 1 });
    c.advance(500);
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.closeWith(4002, 'session expired');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 1_000, attempt: 2 });
    // A stable connection before the next 4002: at once again, and the backoff starts over.
    c.advance(1_000);
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.advance(3_000);
    c.closeWith(4002, 'session expired');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 0, attempt: 0 });
  });

  it('resets the backoff once a connection stayed open for stableAfterMs', () => {
    const c = startClient([1 - 2 ** -20]);
    c.closeWith(1006);
    c.advance(1_000);
    c.closeWith(1006);
    c.advance(2_000);
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.advance(2_999);
    c.closeWith(4008, 'slow consumer'); // not stable yet: the third step
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 4_000, attempt: 3 });
    c.advance(4_000);
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.advance(3_000);
    c.closeWith(4008, 'slow consumer');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 1_000, attempt: 1 });
  });

  it('gives up a connect that takes longer than connectTimeoutMs, as a failed attempt', () => {
    const c = startClient([0.5]);
    c.advance(4_999);
    expect(c.value()).toEqual({ connection: 'connecting' });
    c.advance(1);
    expect(c.value()).toBe('waiting');
    expect(c.sockets[0]?.live).toBe(false);
    expect(c.emitted).toEqual([
      {
        type: 'close',
        code: 1006,
        reason: 'connect timeout',
        retryAfterMs: undefined,
        wasClean: false,
        cause: 'connect-timeout',
      },
      { type: 'reconnecting', delayMs: 500, attempt: 1 },
    ]);
  });

  /** Two failed connects, then a connection that closes before stableAfterMs: the backoff stays at its third step. */
  function startUnstable() {
    const c = startClient([0.5]);
    c.closeWith(1006); // 0.5 × 1000
    c.advance(500);
    c.closeWith(1006); // 0.5 × 2000
    c.advance(1_000);
    c.actor.send({ type: 'SOCKET_OPENED' });
    return c;
  }

  it('after 4001 waits for activity, however long, then connects with a fresh backoff', () => {
    const c = startUnstable();
    c.closeWith(4001, 'evicted: idle');
    expect(c.value()).toEqual({ suspended: 'untilActive' });
    expect(c.clock.pending).toBe(0);
    c.advance(1_000_000);
    expect(c.sockets).toHaveLength(3);
    c.actor.send({ type: 'ACTIVITY' });
    expect(c.value()).toEqual({ connection: 'connecting' });
    expect(c.sockets).toHaveLength(4);
    c.closeWith(1006); // the first step again: 0.5 × 1000, not 0.5 × 4000
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 500, attempt: 1 });
  });

  it.each([4400, 4401, 4403, 1000])(
    'after %i ignores activity and waits for resume(), then a fresh backoff',
    (code) => {
      const c = startUnstable();
      c.closeWith(code, 'no');
      expect(c.value()).toEqual({ suspended: 'untilResumed' });
      c.actor.send({ type: 'ACTIVITY' });
      c.advance(1_000_000);
      expect(c.value()).toEqual({ suspended: 'untilResumed' });
      c.actor.send({ type: 'RESUME' });
      expect(c.value()).toEqual({ connection: 'connecting' });
      c.closeWith(1006);
      expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 500, attempt: 1 });
    },
  );

  it('the network back (NETWORK_ONLINE) cuts a wait after a 1006 to 0 ms, and keeps the attempt count', () => {
    const c = startClient([0.5]);
    c.closeWith(1006); // a failed connect: waits 0.5 × 1000
    expect(c.value()).toBe('waiting');
    c.actor.send({ type: 'NETWORK_ONLINE' });
    // Waiting again, for 0 ms: the 500 ms delay is cancelled, and the app is told.
    expect(c.value()).toBe('waiting');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 0, attempt: 1 });
    expect(c.clock.pending).toBe(1);
    c.actor.send({ type: 'NETWORK_ONLINE' }); // again: nothing left to cut
    expect(c.emitted.filter((e) => e.type === 'reconnecting')).toHaveLength(2);
    c.advance(0);
    expect(c.value()).toEqual({ connection: 'connecting' });
    expect(c.sockets).toHaveLength(2);
    c.closeWith(1006); // still the second failure in a row: 0.5 × 2000
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 1_000, attempt: 2 });
  });

  it('the network back also ends the wait after a connect timeout', () => {
    const c = startClient([0.5]);
    c.advance(5_000);
    expect(c.value()).toBe('waiting');
    c.actor.send({ type: 'NETWORK_ONLINE' });
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 0, attempt: 1 });
    c.advance(0);
    expect(c.value()).toEqual({ connection: 'connecting' });
  });

  it.each([
    [
      "a 1006 with a refused upgrade's retry hint",
      (c: ReturnType<typeof startClient>) => c.closeWithHint(1006, 5),
    ],
    [
      '4429 with a retry hint',
      (c: ReturnType<typeof startClient>) => c.closeWith(4429, 'slow retry-after=5'),
    ],
    ['4503', (c: ReturnType<typeof startClient>) => c.closeWith(4503, 'busy')],
    ['1001 (a shutdown, spread)', (c: ReturnType<typeof startClient>) => c.closeWith(1001)],
    ['1011', (c: ReturnType<typeof startClient>) => c.closeWith(1011)],
    ['4008', (c: ReturnType<typeof startClient>) => c.closeWith(4008)],
  ])('the network back leaves the wait after %s as it is: the server chose it', (_close, close) => {
    const c = startClient([0.5]);
    close(c);
    expect(c.value()).toBe('waiting');
    const { delayMs } = c.emitted.at(-1) as { delayMs: number };
    c.actor.send({ type: 'NETWORK_ONLINE' });
    expect(c.value()).toBe('waiting');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs, attempt: expect.any(Number) });
    c.advance(delayMs - 1);
    expect(c.sockets).toHaveLength(1);
    c.advance(1);
    expect(c.value()).toEqual({ connection: 'connecting' });
  });

  it('the network back while connecting abandons the attempt for a fresh one at once, counting no failure', () => {
    const c = startClient([0.5]);
    c.closeWith(1006);
    const waited = c.emitted.at(-1) as { delayMs: number };
    c.advance(waited.delayMs); // the backoff: attempt 1
    expect(c.sockets.map((s) => s.live)).toEqual([false, true]);
    const announced = c.emitted.length;
    c.actor.send({ type: 'NETWORK_ONLINE' });
    // No close: a wait of 0 ms, the attempt count kept, the abandoned attempt's socket stopped.
    expect(c.value()).toBe('waiting');
    expect(c.emitted.slice(announced)).toEqual([{ type: 'reconnecting', delayMs: 0, attempt: 1 }]);
    expect(c.sockets.map((s) => s.live)).toEqual([false, false]);
    expect(c.clock.pending).toBe(1); // the wait of 0 ms: the connect timeout went with the attempt
    c.advance(0);
    expect(c.value()).toEqual({ connection: 'connecting' });
    expect(c.sockets.map((s) => s.live)).toEqual([false, false, true]);
    expect(c.actor.getSnapshot().context.attempt).toBe(1);
  });

  it('the network back means nothing while open or suspended', () => {
    const c = startClient([0.5]);
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.actor.send({ type: 'NETWORK_ONLINE' });
    expect(c.value()).toEqual({ connection: { open: 'unwatched' } });
    expect(c.sockets.map((s) => s.live)).toEqual([true]);
    c.closeWith(4001, 'evicted: idle');
    c.actor.send({ type: 'NETWORK_ONLINE' });
    expect(c.value()).toEqual({ suspended: 'untilActive' });
  });

  it("handles the app's CLOSE in every state but the final one", () => {
    expect(statesNotHandling(clientMachine, 'CLOSE')).toEqual([]);
  });

  it.each([
    ['connecting', () => {}],
    ['waiting', (c: ReturnType<typeof startClient>) => c.closeWith(1006)],
    ['suspended', (c: ReturnType<typeof startClient>) => c.closeWith(4001)],
  ])('CLOSE in %s ends it: no socket held, no delay pending', (_state, reach) => {
    const c = startClient();
    reach(c);
    c.actor.send({ type: 'CLOSE' });
    expect(c.actor.getSnapshot().status).toBe('done');
    expect(c.sockets.every((s) => !s.live)).toBe(true);
    expect(c.clock.pending).toBe(0);
    expect(c.handshakes.started).toBe(0);
  });
});

describe("the app's CLOSE on an open socket: the close handshake, bounded by closeTimeout", () => {
  /** A client whose socket is open and that the app has just closed (closeTimeoutMs 2000). */
  function closingClient() {
    const c = startClient();
    c.actor.send({ type: 'SOCKET_OPENED' });
    const announced = c.emitted.length;
    c.actor.send({ type: 'CLOSE' });
    return { ...c, announced };
  }

  it('sends the close (closeSocket) and keeps the socket, with only the deadline pending', () => {
    const c = closingClient();
    expect(c.value()).toEqual({ connection: 'closing' });
    expect(c.handshakes.started).toBe(1);
    expect(c.sockets.map((s) => s.live)).toEqual([true]);
    expect(c.clock.pending).toBe(1); // stableAfter went with `open`: only closeTimeout
  });

  it("the server's answer (SOCKET_CLOSED) ends it: socket released, deadline cancelled, nothing announced", () => {
    const c = closingClient();
    c.advance(1_999);
    c.closeWith(1000);
    expect(c.actor.getSnapshot().status).toBe('done');
    expect(c.sockets.every((s) => !s.live)).toBe(true);
    expect(c.clock.pending).toBe(0);
    expect(c.emitted.slice(c.announced)).toEqual([]);
  });

  it('no answer: closeTimeout ends it, and releases the socket (which the runtime then gives up)', () => {
    const c = closingClient();
    c.advance(1_999);
    expect(c.value()).toEqual({ connection: 'closing' });
    expect(c.sockets.map((s) => s.live)).toEqual([true]);
    c.advance(1);
    expect(c.actor.getSnapshot().status).toBe('done');
    expect(c.sockets.every((s) => !s.live)).toBe(true);
    expect(c.clock.pending).toBe(0);
    expect(c.emitted.slice(c.announced)).toEqual([]);
    expect(c.handshakes.started).toBe(1);
  });

  it('the device going offline meanwhile ends it at once, as a lost socket', () => {
    const c = closingClient();
    c.actor.send({ type: 'NETWORK_OFFLINE' });
    expect(c.actor.getSnapshot().status).toBe('done');
    expect(c.sockets.every((s) => !s.live)).toBe(true);
    expect(c.clock.pending).toBe(0);
    expect(c.emitted.slice(c.announced)).toEqual([]);
  });

  it('neither the silence watch nor the app reaches it: CHECK_SILENCE, ACTIVITY and RESUME change nothing', () => {
    const c = closingClient();
    for (const type of ['CHECK_SILENCE', 'ACTIVITY', 'RESUME'] as const) c.actor.send({ type });
    expect(c.value()).toEqual({ connection: 'closing' });
    expect(c.handshakes.started).toBe(1);
    expect(c.clock.pending).toBe(1);
  });

  it("the app's RECONNECT (isNotClosing) changes nothing: no wait, no new attempt, the socket kept", () => {
    const c = closingClient();
    c.actor.send({ type: 'RECONNECT' });
    expect(c.value()).toEqual({ connection: 'closing' });
    expect(c.sockets.map((s) => s.live)).toEqual([true]);
    expect(c.emitted.slice(c.announced)).toEqual([]);
    expect(c.clock.pending).toBe(1);
    c.closeWith(1000);
    expect(c.actor.getSnapshot().status).toBe('done');
    expect(c.sockets).toHaveLength(1);
  });
});

/** Open, watched for silence, its delay armed (no check pending). */
const WATCHED = { connection: { open: 'watched' } };
/** Open, silent by the clock: the check looks again one turn (0 ms) later. */
const CONFIRMING = { connection: { open: 'confirming' } };

describe('the silence watch', () => {
  /** A server last heard at `heard.at` (set by the test), watched for 10 s. */
  function watchedClient() {
    const heard = { at: 0 };
    const c = startClient([0.5], (now) => ({ timeoutMs: 10_000, quietForMs: () => now() - heard.at }));
    const hear = () => {
      heard.at = c.now();
    };
    return { ...c, heard, hear };
  }

  it('without it, an open socket arms nothing once stableAfter has fired: it lasts however long', () => {
    const c = startClient();
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.advance(3_000); // stableAfter
    expect(c.clock.pending).toBe(0);
    c.advance(30 * 24 * 3_600_000);
    expect(c.value()).toEqual({ connection: { open: 'unwatched' } });
    expect(c.sockets.map((s) => s.live)).toEqual([true]);
  });

  it('gives up a socket that heard nothing for the whole timeout, as a lost one (1006), and backs off', () => {
    const c = watchedClient();
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.hear(); // the runtime stamps the open
    expect(c.value()).toEqual(WATCHED);
    c.advance(9_999);
    expect(c.value()).toEqual(WATCHED);
    c.advance(1);
    // Not yet: the messages that waited in the socket through a freeze are read first.
    expect(c.value()).toEqual(CONFIRMING);
    expect(c.sockets.map((s) => s.live)).toEqual([true]);
    c.advance(0); // one turn later, still silent
    expect(c.value()).toBe('waiting');
    expect(c.sockets.map((s) => s.live)).toEqual([false]);
    expect(c.emitted.slice(-2)).toEqual([
      {
        type: 'close',
        code: 1006,
        reason: 'no message from the server for 10000 ms',
        cause: 'silence',
        retryAfterMs: undefined,
        wasClean: false,
      },
      { type: 'reconnecting', delayMs: 500, attempt: 1 },
    ]);
  });

  it('heard meanwhile, re-arms for the time left after the last message, and gives up only then', () => {
    const c = watchedClient();
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.hear();
    c.advance(6_000);
    c.hear(); // a message at 6 s
    c.advance(4_000); // the delay fires at 10 s: heard 4 s ago, 6 s left
    expect(c.value()).toEqual(WATCHED);
    c.advance(5_999);
    expect(c.value()).toEqual(WATCHED);
    c.advance(1); // 16 s: silent since 6 s
    c.advance(0);
    expect(c.value()).toBe('waiting');
  });

  it('re-arms for at most the whole timeout when the clock was set back (a negative quiet time)', () => {
    const c = watchedClient();
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.hear();
    c.advance(1_000);
    c.hear(); // at 1 s
    c.advance(9_000); // fires at 10 s: heard 9 s ago, re-armed for the 1 s left
    c.heard.at += 365 * 86_400_000; // the wall clock was set back a year after that message
    c.advance(1_000); // fires at 11 s: quiet for minus a year; re-armed for at most 10 s, not a year
    c.heard.at -= 365 * 86_400_000; // and is right again
    c.advance(10_000); // 21 s: silent for 20 s
    c.advance(0);
    expect(c.value()).toBe('waiting');
  });

  it('a server heard more often than the timeout is never given up', () => {
    const c = watchedClient();
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.hear();
    for (let second = 0; second < 600; second += 3) {
      c.advance(3_000);
      c.hear();
    }
    expect(c.value()).toEqual(WATCHED);
    expect(c.emitted.filter((event) => event.type === 'close')).toEqual([]);
  });

  describe("a client that asked for the server's heartbeat offer (no timeout of its own)", () => {
    /** Asked: a silence clock, but no timeout (0) until an offer sets one. */
    function askingClient() {
      const heard = { at: 0 };
      const c = startClient([0.5], (now) => ({ timeoutMs: 0, quietForMs: () => now() - heard.at }));
      return { ...c, hear: () => (heard.at = c.now()) };
    }

    it('stays unwatched until the offer (SILENCE_OFFERED), then watches by its timeout', () => {
      const c = askingClient();
      c.actor.send({ type: 'SOCKET_OPENED' });
      expect(c.value()).toEqual({ connection: { open: 'unwatched' } });
      // Any other event on the way does not start the watch: only the offer does.
      c.actor.send({ type: 'CHECK_SILENCE' });
      c.actor.send({ type: 'NETWORK_ONLINE' });
      expect(c.value()).toEqual({ connection: { open: 'unwatched' } });
      c.hear(); // the offer is heard as it comes
      c.actor.send({ type: 'SILENCE_OFFERED', timeoutMs: 7_000 });
      expect(c.value()).toEqual(WATCHED);
      expect(c.actor.getSnapshot().context.offeredSilenceMs).toBe(7_000);
      c.advance(6_999);
      expect(c.value()).toEqual(WATCHED);
      c.advance(1);
      c.advance(0);
      expect(c.value()).toBe('waiting');
      expect(c.emitted.find((event) => event.type === 'close')).toMatchObject({
        code: 1006,
        reason: 'no message from the server for 7000 ms',
        cause: 'silence',
      });
    });

    it("an offer is one socket's: the next attempt starts unwatched again, its timeout forgotten", () => {
      const c = askingClient();
      c.actor.send({ type: 'SOCKET_OPENED' });
      c.actor.send({ type: 'SILENCE_OFFERED', timeoutMs: 7_000 });
      c.closeWith(1006);
      c.advance(500); // the backoff
      expect(c.actor.getSnapshot().context.offeredSilenceMs).toBe(0);
      c.actor.send({ type: 'SOCKET_OPENED' });
      c.advance(30 * 24 * 3_600_000);
      expect(c.value()).toEqual({ connection: { open: 'unwatched' } });
    });

    it('an offer to a client with no silence clock (one that asked for none) changes nothing', () => {
      const c = startClient();
      c.actor.send({ type: 'SOCKET_OPENED' });
      c.actor.send({ type: 'SILENCE_OFFERED', timeoutMs: 7_000 });
      expect(c.value()).toEqual({ connection: { open: 'unwatched' } });
      expect(c.clock.pending).toBe(1); // stableAfter only
    });
  });
});

describe('a send after a sleep (CHECK_SILENCE)', () => {
  /** A server last heard at `heard.at`, watched for 10 s. */
  function watchedClient() {
    const heard = { at: 0 };
    const c = startClient([0.5], (now) => ({ timeoutMs: 10_000, quietForMs: () => now() - heard.at }));
    c.actor.send({ type: 'SOCKET_OPENED' });
    return { ...c, heard };
  }

  it('silent for the whole timeout by the clock, its delay not yet fired (frozen): given up now, as the delay would', () => {
    const c = watchedClient();
    c.advance(2_000);
    c.heard.at -= 3_600_000; // slept an hour, timers frozen: the clock moved, the delay did not fire
    expect(c.value()).toEqual(WATCHED);
    c.actor.send({ type: 'CHECK_SILENCE' });
    expect(c.value()).toEqual(CONFIRMING);
    c.actor.send({ type: 'CHECK_SILENCE' }); // another send meanwhile: the check is pending already
    expect(c.value()).toEqual(CONFIRMING);
    c.advance(0); // one turn later, nothing read: still silent
    expect(c.value()).toBe('waiting');
    expect(c.sockets.map((s) => s.live)).toEqual([false]);
    expect(c.emitted.slice(-2)).toEqual([
      {
        type: 'close',
        code: 1006,
        reason: 'no message from the server for 10000 ms',
        cause: 'silence',
        retryAfterMs: undefined,
        wasClean: false,
      },
      { type: 'reconnecting', delayMs: 500, attempt: 1 },
    ]);
    expect(c.clock.pending).toBe(1); // the backoff only: the silence delay went with `open`
  });

  it('heard within the timeout: nothing changes, and the armed delay stays as it was', () => {
    const c = watchedClient();
    c.advance(9_999);
    c.actor.send({ type: 'CHECK_SILENCE' });
    expect(c.value()).toEqual(WATCHED);
    expect(c.emitted.filter((event) => event.type === 'close')).toEqual([]);
    c.advance(1); // the delay, armed at the open, still fires at 10 s
    c.advance(0);
    expect(c.value()).toBe('waiting');
  });

  it('silent by the clock, but heard before the check looks again (the messages waiting in the socket, read): kept, and re-armed', () => {
    const c = watchedClient();
    c.advance(2_000);
    c.heard.at -= 3_600_000; // slept an hour: the server's messages wait in the socket, unread
    c.actor.send({ type: 'CHECK_SILENCE' });
    expect(c.value()).toEqual(CONFIRMING);
    c.heard.at = c.now(); // the runtime reads them: heard now
    c.advance(0);
    expect(c.value()).toEqual(WATCHED);
    expect(c.sockets.map((s) => s.live)).toEqual([true]);
    expect(c.emitted.filter((event) => event.type === 'close')).toEqual([]);
    // Re-armed for a whole timeout from the message read: given up only 10 s later, if silent.
    c.advance(9_999);
    expect(c.value()).toEqual(WATCHED);
    c.advance(1);
    c.advance(0);
    expect(c.value()).toBe('waiting');
  });

  it("the silence delay's check too: heard before its second look, the socket is kept", () => {
    const c = watchedClient();
    c.advance(10_000); // the delay fires, nothing heard by the clock
    expect(c.value()).toEqual(CONFIRMING);
    c.heard.at = c.now();
    c.advance(0);
    expect(c.value()).toEqual(WATCHED);
    expect(c.emitted.filter((event) => event.type === 'close')).toEqual([]);
  });

  // Review r26: after a freeze past the silence timeout and stableAfter, both delays fell due at
  // once; stableAfter fired while the silence check waited its turn (`confirming`), marked the
  // connection stable and reset the backoff, and the socket was then given up all the same.
  it('a freeze past both the silence timeout and stableAfter counts the connection as no stable one', () => {
    const heard = { at: 0 };
    const c = startClient([0.5], (now) => ({ timeoutMs: 1_000, quietForMs: () => now() - heard.at }));
    c.closeWith(1006); // a failed connect: attempt 1, a wait of 500 ms
    c.advance(500);
    c.closeWith(1006); // attempt 2, a wait of 1 s
    c.advance(1_000);
    c.actor.send({ type: 'SOCKET_OPENED' });
    heard.at = c.now();
    c.advance(10_000); // frozen: both delays overdue
    c.advance(0);
    expect(c.value()).toBe('waiting');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 2_000, attempt: 3 });
  });

  // Review r27: stableAfter fires once. Found silent during the freeze, it marked nothing, and a
  // socket the second look then kept stayed unmarked for its whole life: its attempt count kept
  // (with maxAttempts, a first drop hours later could give up for good), a 4002 backed off.
  /**
   * A client watched for silence (1 s) whose thaw is played look by look: the simulated clock runs
   * every overdue delay, and the 0 ms one they arm, in one advance, so `readAtLook(n)` has the
   * messages that waited in the socket read just before the silence clock's nth look from then on.
   */
  function frozenClient() {
    const heard = { at: 0 };
    let looksLeft = Number.POSITIVE_INFINITY;
    const c = startClient([0.5], (now) => ({
      timeoutMs: 1_000,
      quietForMs: () => {
        looksLeft -= 1;
        if (looksLeft === 0) heard.at = now();
        return now() - heard.at;
      },
    }));
    return {
      ...c,
      heard,
      readAtLook: (n: number) => {
        looksLeft = n;
      },
      context: () => c.actor.getSnapshot().context,
    };
  }

  it('a freeze past both, the socket then kept by the second look: counted stable then (the mark deferred, not dropped)', () => {
    const c = frozenClient();
    c.closeWith(1006); // attempt 1
    c.advance(500);
    c.closeWith(1006); // attempt 2
    c.advance(1_000);
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.heard.at = c.now();
    // Frozen past both: the silence delay's look (1), stableAfter's (2), then the thaw reads what
    // the server sent meanwhile, and the second look (3) finds it heard.
    c.readAtLook(3);
    c.advance(10_000);
    expect(c.value()).toEqual({ connection: { open: 'watched' } });
    expect(c.context()).toMatchObject({ stable: true, attempt: 0, stableDue: false });
    for (let i = 0; i < 3_600; i++) {
      c.heard.at = c.now(); // an hour, heard throughout
      c.advance(999);
    }
    c.closeWith(1006);
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 500, attempt: 1 });
  });

  it('a freeze past both, then kept: a 4002 on it later reconnects at once (an expired session, not a failure)', () => {
    const c = frozenClient();
    c.closeWith(1006); // attempt 1
    c.advance(500);
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.heard.at = c.now();
    c.readAtLook(3);
    c.advance(10_000);
    c.closeWith(4002, 'session expired');
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 0, attempt: 0 });
  });

  it('a deferred mark is not inherited: the next connection, kept by a second look before stableAfter, is no stable one', () => {
    const c = frozenClient();
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.heard.at = c.now();
    c.advance(10_000); // frozen past both (the mark deferred), and silent at the second look: given up
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 500, attempt: 1 });
    c.advance(500);
    c.actor.send({ type: 'SOCKET_OPENED' });
    c.heard.at = c.now();
    // Silent for the timeout, before stableAfter (3 s): the silence delay's look (1), then heard
    // at the second look (2); stableAfter still to come.
    c.readAtLook(2);
    c.advance(1_000);
    expect(c.value()).toEqual({ connection: { open: 'watched' } });
    expect(c.context()).toMatchObject({ stable: false, attempt: 1 });
  });

  it('a connection heard throughout is counted stable at stableAfter, as without the watch', () => {
    const heard = { at: 0 };
    const c = startClient([0.5], (now) => ({ timeoutMs: 10_000, quietForMs: () => now() - heard.at }));
    c.closeWith(1006);
    c.advance(500);
    c.actor.send({ type: 'SOCKET_OPENED' });
    heard.at = c.now();
    c.advance(3_000); // stableAfter: the backoff back to its first step
    c.closeWith(1006);
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 500, attempt: 1 });
  });

  it('means nothing outside an open socket watched for silence', () => {
    const unwatched = startClient([0.5]);
    unwatched.actor.send({ type: 'CHECK_SILENCE' });
    expect(unwatched.value()).toEqual({ connection: 'connecting' });
    unwatched.actor.send({ type: 'SOCKET_OPENED' });
    unwatched.advance(60_000);
    unwatched.actor.send({ type: 'CHECK_SILENCE' });
    expect(unwatched.value()).toEqual({ connection: { open: 'unwatched' } });

    const c = watchedClient();
    c.closeWith(1006);
    c.heard.at -= 3_600_000;
    c.actor.send({ type: 'CHECK_SILENCE' });
    expect(c.value()).toBe('waiting');
    expect(c.emitted.filter((event) => event.type === 'close')).toHaveLength(1);
  });
});

describe('the device offline (NETWORK_OFFLINE)', () => {
  /** The client, its `network` actors recorded: which event each listens for, and whether it is held. */
  function startRecording() {
    const networks: { event: string; live: boolean }[] = [];
    const machine = clientMachine.provide({
      actors: {
        socket: fromCallback<ClientEvent>(() => () => {}),
        network: fromCallback<ClientEvent, ClientNetworkInput>(({ input }) => {
          const network = { event: input.event, live: true };
          networks.push(network);
          return () => {
            network.live = false;
          };
        }),
      },
    });
    const actor = createActor(machine, { input: input([0.5]), clock: new SimulatedClock() });
    actor.start();
    return { actor, networks, held: () => networks.filter((n) => n.live).map((n) => n.event) };
  }

  it('listens for `offline` while connecting, open and waiting, for `online` while connecting and waiting, and for neither once closed', () => {
    const r = startRecording();
    expect(r.held()).toEqual(['offline', 'online']);
    r.actor.send({ type: 'SOCKET_OPENED' });
    expect(r.held()).toEqual(['offline']);
    r.actor.send({ type: 'NETWORK_OFFLINE' });
    expect(r.held()).toEqual(['online', 'offline']);
    r.actor.send({ type: 'CLOSE' });
    expect(r.held()).toEqual([]);
  });

  it.each([
    ['open', (c: ReturnType<typeof startClient>) => c.actor.send({ type: 'SOCKET_OPENED' })],
    ['connecting', () => {}],
  ])('while %s, gives the socket up as lost (1006, "the device went offline") and backs off', (_s, enter) => {
    const c = startClient([0.5]);
    enter(c);
    c.actor.send({ type: 'NETWORK_OFFLINE' });
    expect(c.value()).toBe('waiting');
    expect(c.sockets.map((s) => s.live)).toEqual([false]);
    expect(c.emitted.slice(-2)).toEqual([
      {
        type: 'close',
        code: 1006,
        reason: 'the device went offline',
        cause: 'offline',
        retryAfterMs: undefined,
        wasClean: false,
      },
      { type: 'reconnecting', delayMs: 500, attempt: 1 },
    ]);
    expect(c.clock.pending).toBe(1); // the backoff only: connectTimeout, stableAfter went with `connection`
    // The network's return then ends that wait at once: it followed a 1006 with no hint.
    c.actor.send({ type: 'NETWORK_ONLINE' });
    expect(c.emitted.at(-1)).toEqual({ type: 'reconnecting', delayMs: 0, attempt: 1 });
  });

  it('means nothing while waiting or suspended', () => {
    const c = startClient([0.5]);
    c.closeWith(1006);
    c.actor.send({ type: 'NETWORK_OFFLINE' });
    expect(c.value()).toBe('waiting');
    expect(c.emitted.filter((event) => event.type === 'close')).toHaveLength(1);
    c.advance(500);
    c.closeWith(4401, 'unauthenticated');
    c.actor.send({ type: 'NETWORK_OFFLINE' });
    expect(c.value()).toEqual({ suspended: 'untilResumed' });
  });
});

describe('the delays, for any jitter (fast-check)', () => {
  const jitter = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

  it('a back-off never comes before the retry hint, nor after the hint plus the ceiling or half the hint', () => {
    fc.assert(
      fc.property(
        fc.array(jitter, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 120 }),
        fc.constantFrom(1006, 4008, 4429, 4503, 1011),
        (randoms, hintSeconds, code) => {
          const c = startClient(randoms);
          for (let failure = 0; failure < randoms.length; failure++) {
            c.closeWithHint(code, hintSeconds);
            const { delayMs } = c.emitted.at(-1) as { delayMs: number };
            const ceiling = Math.min(8_000, 1_000 * 2 ** failure);
            expect(delayMs).toBeGreaterThanOrEqual(hintSeconds * 1_000);
            expect(delayMs).toBeLessThanOrEqual(hintSeconds * 1_000 + Math.max(ceiling, hintSeconds * 500));
            c.advance(delayMs);
          }
          c.actor.stop();
        },
      ),
    );
  });

  it('after a shutdown, the return falls within the window', () => {
    fc.assert(
      fc.property(jitter, (random) => {
        const c = startClient([random]);
        c.actor.send({ type: 'SOCKET_OPENED' });
        c.closeWith(1001, 'server shutting down');
        const { delayMs } = c.emitted.at(-1) as { delayMs: number };
        expect(delayMs).toBeGreaterThanOrEqual(0);
        expect(delayMs).toBeLessThanOrEqual(20_000);
        c.actor.stop();
      }),
    );
  });
});
