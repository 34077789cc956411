/**
 * ws-supervisor/client on real sockets, in-process: a supervisor (its books
 * clean after every test) where a ws-supervisor server provokes the code, and
 * a plain ws server that closes with the code a refusal delivered as a close
 * frame carries (4000 + the HTTP status, ` retry-after=<s>` at the end of the
 * reason). The client's delays run on a SimulatedClock.
 */
import { once } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import { InvalidOptionError } from '../../src/client/index.js';
import { createCountingClock } from '../../src/clock.js';
import { allDisposed, expectNoLeaks, startServer } from '../helpers/server.js';
import {
  expectReleased,
  listenersOn,
  messagesOf,
  sentUrl,
  startClient,
  startClosingServer,
} from './helpers.js';

describe('the client against a supervisor', () => {
  it('shutdown (1001): closes, waits within the window, and leaves the books clean', async () => {
    const server = await startServer();
    const t = startClient({ url: server.url('dee'), shutdownWindowMs: 4_000, random: () => 0.999 });
    await t.next('open');
    expect(server.supervisor.userStats('dee')).toMatchObject({ live: 1 });

    const from = t.mark();
    await server.supervisor.shutdown({ deadlineMs: 500 });
    expect(await t.next('close', from)).toMatchObject({ code: 1001, kind: 'shutdown' });
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 3_996, attempt: 0 });
    expect(t.client.state).toBe('waiting');

    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });

  it('evicted (4001) on the supervisor’s own clock: suspended until activity, then admitted again', async () => {
    const serverClock = new SimulatedClock();
    // limit 1: T = 1, so the connection is evicted as soon as it turns idle.
    const server = await startServer({
      clock: serverClock,
      maxConnectionsPerUser: 1,
      heartbeatIntervalMs: 1e9,
    });
    const t = startClient({ url: server.url('eve') });
    await t.next('open');

    const from = t.mark();
    serverClock.increment(server.supervisor.options.idleTimeoutMs);
    expect(await t.next('close', from)).toMatchObject({
      code: 4001,
      kind: 'evicted',
      next: 'wait-for-activity',
    });
    expect(t.client.state).toBe('suspended');
    t.simulated.increment(3_600_000);
    expect(server.supervisor.stats().counters.admitted).toBe(1);

    t.client.activity();
    await t.next('open', from);
    expect(server.supervisor.stats().counters.admitted).toBe(2);

    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });

  it('close() sends 1000, cancels every delay and removes every listener, from any state; send() is then false', async () => {
    const server = await startServer();
    const t = startClient({ url: server.url('fay') });
    await t.next('open');
    const [socket] = t.sockets as [WebSocket];
    expect(listenersOn(socket)).toBe(4);

    const disposed = new Promise((resolve) => server.supervisor.on('disposed', resolve));
    t.client.close();
    t.client.close(); // idempotent
    expect(t.client.send('late')).toBe(false);
    await expectReleased(t);
    expect(await disposed).toMatchObject({ reason: 'closed', closeCode: 1000 });
    expectNoLeaks(server.supervisor);
  });

  it('close() while waiting and while connecting leaves nothing either', async () => {
    const refusing = await startClosingServer({ code: 4008, reason: 'slow consumer' });
    const waiting = startClient({ url: refusing.url });
    await waiting.next('reconnecting', 0);
    expect(waiting.clock.pending).toBe(1);
    waiting.client.close();
    await expectReleased(waiting);

    const connecting = startClient({ url: refusing.url });
    expect(connecting.client.state).toBe('connecting');
    connecting.client.close(); // before the handshake finished: ws aborts it
    await expectReleased(connecting);
    expect(connecting.events.filter(([type]) => type === 'open')).toEqual([]);
  });
});

describe('the runtime around the machine', () => {
  it('inside `open`, state is already open and send() works; the url function runs before every attempt', async () => {
    const server = await startServer();
    let attempts = 0;
    const seen: string[] = [];
    const t = startClient({
      url: () => {
        attempts += 1;
        if (attempts === 1) throw new Error('no token yet');
        return server.url(`gil${attempts}`);
      },
    });
    // The first url() threw: a failed attempt, reported and backed off like 1006.
    expect(await t.next('close', 0)).toMatchObject({ code: 1006, reason: 'cannot connect: no token yet' });
    expect(t.client.state).toBe('waiting');
    t.client.on('open', () => {
      seen.push(t.client.state);
      seen.push(String(t.client.send('first words')));
    });
    t.simulated.increment((await t.next('reconnecting', 0)).delayMs);
    const { data } = await t.next('message', 0);
    expect([seen, String(data)]).toEqual([['open', 'true'], 'first words']);
    expect(server.supervisor.userStats('gil2')).toMatchObject({ live: 1 });
    // `open` names the URL of the attempt that opened: the url function's answer (and the instance id).
    expect(await t.next('open', 0)).toEqual({ url: sentUrl(t, server.url('gil2')) });

    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });
});

describe('send() while disconnected', () => {
  it('returns false and queues nothing: the next connection carries only what is sent once it is open', async () => {
    const server = await startServer();
    const t = startClient({ url: server.url('hal') });
    await t.next('open', 0);
    const mark = t.mark();
    server.supervisor.disconnectUser('hal', 4008, 'slow consumer');
    expect(await t.next('close', mark)).toMatchObject({ code: 4008, next: 'reconnect' });
    expect(t.client.state).toBe('waiting');
    expect(t.client.send('lost')).toBe(false);
    t.simulated.increment((await t.next('reconnecting', mark)).delayMs);
    const reopened = t.mark();
    await t.next('open', mark);
    expect(t.client.send('after')).toBe(true);
    await t.next('message', reopened);
    expect(messagesOf(t)).toEqual(['after']); // the echo server returned nothing else
    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });
});

describe('binaryType', () => {
  it.each([
    ['arraybuffer', ArrayBuffer],
    ['blob', Blob],
  ] as const)(
    "'%s': a binary message arrives as that type, a text message as a string",
    async (binaryType, type) => {
      const server = await startServer();
      const t = startClient({ url: server.url('bin'), binaryType });
      await t.next('open', 0);
      t.client.send(new Uint8Array([1, 2, 255]));
      const binary = (await t.next('message', 0)).data;
      expect(binary).toBeInstanceOf(type);
      const bytes = binary instanceof Blob ? await binary.arrayBuffer() : (binary as ArrayBuffer);
      expect([...new Uint8Array(bytes)]).toEqual([1, 2, 255]);
      const mark = t.mark();
      t.client.send('text');
      expect((await t.next('message', mark)).data).toBe('text');
      t.client.close();
      await expectReleased(t);
      await allDisposed(server.supervisor);
    },
  );
});

describe('listeners', () => {
  it('close() inside a listener: stops there, and the listeners hear nothing but the final `closed`', async () => {
    const server = await startClosingServer({ code: 4429, reason: 'busy retry-after=5' });
    const t = startClient({ url: server.url });
    let after = -1;
    let stateThen = '';
    t.client.on('close', () => {
      // The app gives up on a refusal (a common pattern: 'too-many-requests' means try another host).
      t.client.close();
      after = t.mark();
      stateThen = t.client.state;
    });
    await t.next('close');
    await t.next('state', after);
    // No "reconnecting in 5250 ms" nor "waiting" for a client the app has just closed.
    expect(t.events.slice(after)).toEqual([['state', { state: 'closed', previous: 'open' }]]);
    expect(stateThen).toBe('closed');
    await expectReleased(t);
    expect(server.connections()).toBe(1);
  });

  it('`state: open` comes before the `open` listeners, so a close() inside one ends with { closed, previous: open }', async () => {
    const server = await startServer();
    const t = startClient({ url: server.url('ola') });
    const seen: { stateEvents: unknown[]; state: string } = { stateEvents: [], state: '' };
    let after = -1;
    t.client.on('open', () => {
      // What a UI following `state` had heard, and what client.state read, when `open` came.
      seen.stateEvents = t.events.filter(([type]) => type === 'state').map(([, event]) => event);
      seen.state = t.client.state;
      t.client.close();
      after = t.mark();
    });
    await t.next('open');
    expect(seen).toEqual({ stateEvents: [{ state: 'open', previous: 'connecting' }], state: 'open' });
    await t.next('state', after);
    expect(t.events.slice(after)).toEqual([['state', { state: 'closed', previous: 'open' }]]);
    expect(t.events.filter(([type]) => type === 'state')).toEqual([
      ['state', { state: 'open', previous: 'connecting' }],
      ['state', { state: 'closed', previous: 'open' }],
    ]);
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });

  it('close() inside a `state: open` listener: the `open` listeners hear nothing of that step', async () => {
    const server = await startServer();
    const t = startClient({ url: server.url('ola') });
    const ended = new Promise<void>((resolve) => {
      t.client.on('state', ({ state }) => {
        if (state === 'open') t.client.close();
        if (state === 'closed') resolve();
      });
    });
    await ended;
    expect(t.events).toEqual([
      ['state', { state: 'open', previous: 'connecting' }],
      ['state', { state: 'closed', previous: 'open' }],
    ]);
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });

  it('a listener that throws does not stop the others, nor the client; its error is thrown on its own', async () => {
    const server = await startServer();
    const thrown: unknown[] = [];
    const onUncaught = (error: unknown) => thrown.push(error);
    process.on('uncaughtException', onUncaught);
    onTestFinished(() => void process.off('uncaughtException', onUncaught));
    const t = startClient({ url: server.url('hal') });
    t.client.on('open', () => {
      throw new Error('app bug');
    });
    const from = t.mark();
    await t.next('open', 0);
    expect(t.client.send('still here')).toBe(true);
    expect(String((await t.next('message', from)).data)).toBe('still here');
    await expect.poll(() => thrown.map((error) => (error as Error).message)).toEqual(['app bug']);

    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });
});

describe('an inspect observer that throws', () => {
  // XState calls inspection observers inside its step, with no try/catch: a throw there
  // failed the client's actor mid-step (its socket left open, its state stuck). The client
  // reports it as a listener's error is reported, and goes on.
  it('is reported on its own (AppHookError, hook inspect); the client connects, echoes and closes', async () => {
    const server = await startServer();
    const thrown: unknown[] = [];
    const onUncaught = (error: unknown) => thrown.push(error);
    process.on('uncaughtException', onUncaught);
    onTestFinished(() => void process.off('uncaughtException', onUncaught));
    const t = startClient({
      url: server.url('ivy'),
      inspect: (event) => {
        if (event.type === '@xstate.snapshot') throw new Error('inspector bug');
      },
    });
    const from = t.mark();
    await t.next('open', 0);
    expect(t.client.send('still here')).toBe(true);
    expect(String((await t.next('message', from)).data)).toBe('still here');
    await expect.poll(() => thrown.length).toBeGreaterThan(0);
    for (const error of thrown) {
      expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'inspect' });
      expect((error as Error).cause).toMatchObject({ message: 'inspector bug' });
    }

    t.client.close();
    await expectReleased(t);
    expect(t.client.state).toBe('closed');
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });
});

describe('send() checks what it is given', () => {
  // As connection.send(): ws sent a number as text and threw a bare TypeError for an object;
  // a browser sends "undefined" or "[object Object]". Now a typed error, and nothing is sent.
  it('refuses what is not a string, bytes or a Blob with WSSUP_INVALID_ARGUMENT, open or not', async () => {
    const server = await startServer();
    const t = startClient({ url: server.url('jo') });
    await t.next('open');
    for (const bad of [42, undefined, null, { text: 'hi' }, true, [1, 2]]) {
      expect(() => t.client.send(bad as never), String(bad)).toThrow(
        expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
      );
    }
    // The message says what it got, and for a message object how to send it, as connection.send()'s does.
    expect(() => t.client.send({ text: 'hi' } as never)).toThrow(
      'data must be a string, an ArrayBuffer, a typed array or DataView, or a Blob, got an object (JSON.stringify() it first)',
    );
    expect(() => t.client.send([1, 2] as never)).toThrow(/, got an array \(JSON\.stringify\(\) it first\)$/);
    expect(() => t.client.send(42 as never)).toThrow(/, or a Blob, got 42$/);
    expect(() => t.client.send(new Map() as never)).toThrow(/, or a Blob, got a Map$/);
    const from = t.mark();
    expect(t.client.send('ok')).toBe(true);
    expect(t.client.send(new Uint8Array([1, 2]))).toBe(true);
    expect(t.client.send(new ArrayBuffer(1))).toBe(true);
    expect(t.client.send(new Blob(['blob']))).toBe(true);
    const messages = () => t.events.slice(from).filter(([type]) => type === 'message');
    await expect.poll(() => messages().length).toBe(4);
    const received = messages().map(([, event]) => {
      const { data } = event as { data: unknown };
      return Buffer.isBuffer(data) ? `bytes ${[...data].join(',')}` : String(data);
    });
    // The echo server answers in order: the refused sends never reached it.
    expect(received).toEqual(['ok', 'bytes 1,2', 'bytes 0', 'bytes 98,108,111,98']);

    t.client.close();
    expect(() => t.client.send(42 as never)).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
    );
    expect(t.client.send('late')).toBe(false);
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });
});

describe('listeners added or removed while an event is delivered', () => {
  // As Node's EventEmitter (and the supervisor's own events): an event goes to the listeners
  // registered when it began. A Set iterated while a listener adds to it visits the newcomer
  // too, and one that removes and re-adds itself was called again and again, forever.
  it('a listener added during an event hears the next one, not this one; re-adding itself does not loop', async () => {
    const server = await startServer();
    const t = startClient({ url: server.url('ivy') });
    await t.next('open');
    const heard: string[] = [];
    let calls = 0;
    const again = (event: { data: unknown }) => {
      calls += 1;
      if (calls > 5) return; // without the fix, the loop this test is about
      off();
      off = t.client.on('message', again);
      heard.push(`again ${String(event.data)}`);
    };
    let off = t.client.on('message', again);
    t.client.on('message', (event) => {
      heard.push(`first ${String(event.data)}`);
      t.client.on('message', (later) => heard.push(`added ${String(later.data)}`));
    });
    let from = t.mark();
    t.client.send('one');
    await t.next('message', from);
    from = t.mark();
    t.client.send('two');
    await t.next('message', from);
    // `again` re-added itself after `first`; `first` added a listener in each message.
    expect(heard).toEqual(['again one', 'first one', 'first two', 'again two', 'added two']);

    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });
});

describe('refusals and closes a plain ws server sends', () => {
  it.each([
    [4008, 'slow consumer', 'slow-consumer'],
    [4009, 'message rate exceeded', 'message-rate-exceeded'],
  ])('%i %s: backs off with full jitter', async (code, reason, kind) => {
    const server = await startClosingServer({ code, reason });
    const t = startClient({ url: server.url, backoff: { baseMs: 200, capMs: 10_000, factor: 3 } });
    expect(await t.next('close')).toMatchObject({ code, reason, kind });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 100, attempt: 1 });
    const from = t.mark();
    t.simulated.increment(100);
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 300, attempt: 2 }); // 0.5 × 200 × 3
    expect(server.connections()).toBe(2);
  });

  it.each([
    [
      4429,
      'user connection limit reached retry-after=5',
      'too-many-requests',
      'user connection limit reached',
    ],
    [4503, 'shutting down retry-after=5', 'unavailable', 'shutting down'],
  ])('%i with retry-after=5: waits at least 5 s', async (code, reason, kind, message) => {
    const server = await startClosingServer({ code, reason });
    const t = startClient({ url: server.url });
    expect(await t.next('close')).toMatchObject({ code, kind, reason: message, retryAfterMs: 5_000 });
    const { delayMs } = await t.next('reconnecting', 0);
    expect(delayMs).toBe(6_250); // the hint, plus 0.5 × 2500 of jitter (half the hint: wider than 500)
    t.simulated.increment(4_999);
    expect(t.client.state).toBe('waiting');
    // Nothing reached the server meanwhile (a connect would have been counted by now: it is loopback).
    const probe = new WebSocket(server.url);
    await once(probe, 'close');
    expect(server.connections()).toBe(2); // the client's first, and the probe
    const from = t.mark();
    t.simulated.increment(delayMs - 4_999);
    await t.next('close', from);
    expect(server.connections()).toBe(3);
  });

  it.each([
    [4400, 'invalid user id', 'bad-request'],
    [4401, 'unauthenticated', 'unauthenticated'],
    [4403, 'forbidden', 'forbidden'],
  ])('%i: does not retry, names the reason, and reconnects on resume()', async (code, reason, kind) => {
    const server = await startClosingServer({ code, reason });
    const t = startClient({ url: server.url });
    expect(await t.next('close')).toMatchObject({ code, reason, kind, next: 'wait-for-resume' });
    expect(t.client.state).toBe('suspended');
    expect(t.client.lastClose).toMatchObject({ code, kind });
    t.client.activity(); // user input is not what is missing here
    t.simulated.increment(3_600_000);
    expect(t.client.state).toBe('suspended');
    expect(server.connections()).toBe(1);

    const from = t.mark();
    t.client.resume();
    await t.next('close', from);
    expect(server.connections()).toBe(2);
  });
});

describe('4001 from a cluster that is over the limit', () => {
  /**
   * The README's client table: in cluster mode a 4001 also comes with `evicted: over the
   * limit`, for a connection the cluster-wide book refused after an outage or a lost lease,
   * active or not. It says nothing of the user's idleness, and an app that never calls
   * `activity()` (a background tab, a service) would stay away for good: the client backs
   * off, as after 4429, instead of waiting for activity.
   */
  it('is backed off: reconnects without activity(), after a jittered delay', async () => {
    const server = await startClosingServer({ code: 4001, reason: 'evicted: over the limit' });
    const t = startClient({ url: server.url });
    const from = t.mark();
    expect(await t.next('close', from)).toMatchObject({
      code: 4001,
      reason: 'evicted: over the limit',
      kind: 'evicted',
      next: 'reconnect',
    });
    const { delayMs, attempt } = await t.next('reconnecting', from);
    expect(attempt).toBe(1);
    expect(t.client.state).toBe('waiting');
    t.simulated.increment(delayMs);
    await t.next('close', t.mark());
    expect(server.connections()).toBe(2);
    t.client.close();
    await expectReleased(t);
  });

  it('an idle eviction (`evicted: idle`, or a 4001 with no reason) still waits for activity()', async () => {
    for (const reason of ['evicted: idle', '']) {
      const server = await startClosingServer({ code: 4001, reason });
      const t = startClient({ url: server.url });
      expect(await t.next('close')).toMatchObject({ code: 4001, next: 'wait-for-activity' });
      expect(t.client.state).toBe('suspended');
      t.simulated.increment(3_600_000);
      expect(t.clock.pending).toBe(0);
      expect(server.connections()).toBe(1);
      t.client.close();
      await expectReleased(t);
    }
  });
});

describe("4001 evicted: superseded (another client came back with this one's instance id)", () => {
  /**
   * README, "Reconnects replace their earlier connection": only a client that shares its id
   * with another live one reads it (its own reconnect replaced a socket it had left). Coming
   * back would evict the other in turn, so it waits for the app's resume().
   */
  it('waits for resume(), with nothing scheduled, however long', async () => {
    const server = await startClosingServer({ code: 4001, reason: 'evicted: superseded' });
    const t = startClient({ url: server.url });
    expect(await t.next('close')).toMatchObject({
      code: 4001,
      reason: 'evicted: superseded',
      kind: 'evicted',
      next: 'wait-for-resume',
    });
    expect(t.client.state).toBe('suspended');
    t.simulated.increment(3_600_000);
    t.client.activity();
    expect(t.clock.pending).toBe(0);
    expect(server.connections()).toBe(1);
    const from = t.mark();
    t.client.resume();
    await t.next('close', from);
    expect(server.connections()).toBe(2);
    t.client.close();
    await expectReleased(t);
  });
});

describe('retry hints longer than a timer can hold', () => {
  // setTimeout (Node and browsers) fires at once for a delay above 2^31 - 1 ms (24.8 days).
  // A server may hint that long (a Refusal's retryAfterMs has no upper bound): the client must
  // still wait, not reconnect at once. Real timers here: a simulated clock has no such limit.
  it.each([
    [4429, 'banned for a month retry-after=2592000'],
    [4503, 'maintenance retry-after=99999999999'],
    [1001, 'moving retry-after=2147484'],
  ])('%i "%s": waits (at most 2^31 - 1 ms) instead of reconnecting at once', async (code, reason) => {
    const server = await startClosingServer({ code, reason });
    const realTimers = createCountingClock({ setTimeout, clearTimeout });
    const t = startClient({ url: server.url, clock: realTimers });
    const { delayMs } = await t.next('reconnecting');
    // A reconnect would reach the loopback server well within this; the client must still be waiting.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.connections()).toBe(1);
    expect(t.client.state).toBe('waiting');
    expect(realTimers.pending).toBe(1);
    // It waits as long as a timer can: 24.8 days, the hint (not the jitter alone) cut to that.
    expect(delayMs).toBe(2_147_483_647);
    t.client.close();
    expect(realTimers.pending).toBe(0);
  });
});

describe('a random that breaks its contract (numbers in [0, 1))', () => {
  // Before: NaN or a negative number made the delay NaN or negative, which setTimeout fires at
  // once (a reconnect loop); 1 or more waited past the ceiling. Now the first bad draw ends the
  // client, as close() does, and its InvalidOptionError is thrown on its own, as a listener's is.
  it.each([
    ['NaN', () => Number.NaN, 4008],
    ['-0.5', () => -0.5, 4008],
    ['1', () => 1, 4008],
    ['1.5', () => 1.5, 4008],
    ['Infinity', () => Number.POSITIVE_INFINITY, 4008],
    ['a string', () => '0.5', 4008],
    ['undefined (a used-up sequence)', () => undefined, 4008],
    ['NaN, after a shutdown (1001)', () => Number.NaN, 1001],
  ])(
    '%s: closes the client, reports WSSUP_INVALID_OPTION, and never reconnects',
    async (_name, random, code) => {
      const thrown: unknown[] = [];
      const onUncaught = (error: unknown) => thrown.push(error);
      process.on('uncaughtException', onUncaught);
      onTestFinished(() => void process.off('uncaughtException', onUncaught));
      const server = await startClosingServer({ code, reason: 'bye' });
      const t = startClient({ url: server.url, random: random as () => number });

      await t.next('open');
      const from = t.mark();
      // The step that drew the bad number is not announced (no `close` saying "reconnect", no
      // `reconnecting`): as after close(), only the final `state` event; lastClose says why.
      expect(await t.next('state', from)).toEqual({ state: 'closed', previous: 'open' });
      expect(t.events.slice(from)).toEqual([['state', { state: 'closed', previous: 'open' }]]);
      expect(t.client.lastClose).toMatchObject({ code });
      await expect.poll(() => thrown.length).toBe(1);
      expect(thrown[0]).toBeInstanceOf(InvalidOptionError);
      expect(thrown[0]).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'random' });
      t.simulated.increment(3_600_000);
      expect(server.connections()).toBe(1);
      await expectReleased(t);
    },
  );

  it('a random that throws: the same, with what it threw', async () => {
    const thrown: unknown[] = [];
    const onUncaught = (error: unknown) => thrown.push(error);
    process.on('uncaughtException', onUncaught);
    onTestFinished(() => void process.off('uncaughtException', onUncaught));
    const server = await startClosingServer({ code: 4008, reason: 'slow consumer' });
    let draws = 0;
    const t = startClient({
      url: server.url,
      random: () => {
        draws += 1;
        if (draws > 1) throw new Error('entropy ran out');
        return 0.5;
      },
    });
    // The first draw is good: one back-off, one reconnect; the second throws.
    expect(await t.next('reconnecting')).toEqual({ delayMs: 250, attempt: 1 });
    const from = t.mark();
    t.simulated.increment(250);
    await t.next('open', from);
    expect(await t.next('state', t.mark())).toEqual({ state: 'closed', previous: 'open' });
    await expect.poll(() => thrown.map((error) => (error as Error).message)).toEqual(['entropy ran out']);
    expect(server.connections()).toBe(2);
    await expectReleased(t);
  });
});
