/**
 * A server gone silent, on real sockets: a supervisor on port 0 behind a TCP
 * proxy that can stop forwarding (a laptop that slept, a NAT that dropped the
 * flow: nothing is refused, nothing arrives), and a client on simulated time.
 * Without `silenceTimeoutMs` the client stays `open` (TCP would give up only
 * in minutes); with it, the client gives the socket up and reconnects. The
 * server's `heartbeatMessage` keeps a quiet but healthy server heard by a
 * client that cannot see pings (as a browser's WebSocket), and the app never
 * sees it.
 */
import { once } from 'node:events';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import type { ClientOptions } from '../../src/client/index.js';
import type { SupervisorOptions } from '../../src/index.js';
import { startRedisProxy } from '../helpers/redis-proxy.js';
import { ioWait, startServer } from '../helpers/server.js';
import { expectReleased, listenersOn, messagesOf, pingBlindWebSocket, startClient } from './helpers.js';

const HEARTBEAT_MS = 1_000;

/**
 * A supervisor (heartbeat every HEARTBEAT_MS on its own simulated clock), a
 * proxy in front of it (the Redis tests' TCP proxy: it forwards any TCP), and
 * a client through the proxy, open.
 */
async function setUp(client: Partial<ClientOptions>, server: Partial<SupervisorOptions> = {}) {
  const serverClock = new SimulatedClock();
  let pongs = 0;
  const s = await startServer({
    clock: serverClock,
    heartbeatIntervalMs: HEARTBEAT_MS,
    idleTimeoutMs: 60 * HEARTBEAT_MS,
    // The server's socket sees each pong (the supervisor notes it, with no event of its machine).
    onOpen: (connection) => {
      connection.socket?.on('pong', () => {
        pongs += 1;
      });
    },
    ...server,
  });
  const proxy = await startRedisProxy(s.port);
  const t = startClient({ url: `ws://127.0.0.1:${proxy.port}/?user=u`, ...client });
  await t.next('open');
  await vi.waitFor(() => expect(s.supervisor.userStats('u')?.live).toBe(1), ioWait);
  /** One heartbeat of the server; resolves once its pong is back, so the next one finds it alive. */
  const heartbeat = async () => {
    const before = pongs;
    serverClock.increment(HEARTBEAT_MS);
    await vi.waitFor(() => expect(pongs).toBe(before + 1), ioWait);
  };
  return { s, proxy, t, serverClock, heartbeat };
}

describe('a client behind a network gone silent', () => {
  it('without silenceTimeoutMs, not asking for the heartbeat offer (a heartbeatMessage of its own), stays open however long nothing arrives, with nothing scheduled', async () => {
    // By default the client asks, and watches from the server's offer: test/integration/blackhole.test.ts.
    const { proxy, t } = await setUp({ heartbeatMessage: 'hb' });
    proxy.drop();
    t.simulated.increment(5_000); // stableAfter: the last delay of an open client
    expect(t.clock.pending).toBe(0);
    t.simulated.increment(24 * 3_600_000);
    expect(t.client.state).toBe('open');
    expect(t.events.filter(([type]) => type === 'close')).toEqual([]);
    t.client.close();
    proxy.heal(); // lets the close handshake end (reset) instead of waiting on ws's close timer
    await expectReleased(t);
  });

  it('with silenceTimeoutMs, gives the socket up (1006) after that long, and reconnects with backoff', async () => {
    const { proxy, t } = await setUp({ silenceTimeoutMs: 5_000 });
    proxy.drop();
    const from = t.mark();
    t.simulated.increment(4_999);
    expect(t.client.state).toBe('open');
    t.simulated.increment(1);
    t.simulated.increment(0); // the check's second look, one turn later: still silent
    expect(await t.next('close', from)).toEqual({
      code: 1006,
      reason: 'no message from the server for 5000 ms',
      cause: 'silence',
      retryAfterMs: undefined,
      wasClean: false,
      opened: true,
      kind: 'abnormal',
      next: 'reconnect',
    });
    expect(t.client.state).toBe('waiting');
    const { delayMs } = await t.next('reconnecting', from);

    proxy.heal(); // the network comes back
    const reopened = t.next('open', t.mark());
    t.simulated.increment(delayMs);
    await reopened;
    expect(t.sockets).toHaveLength(2);
    // The given-up socket keeps nothing of ours, its ping listener included: a late ping or
    // message on it cannot stamp the new socket's quiet time.
    const givenUp = t.sockets[0] as WebSocket;
    expect(listenersOn(givenUp) + givenUp.listenerCount('ping')).toBe(0);
    t.client.close();
    await expectReleased(t);
  });

  it('on its default clock, still gives a silent socket up when the wall clock is set back an hour', async () => {
    // No `clock` option: the timers are the platform's (monotonic), and so must be the quiet
    // time. Read on Date.now, a wall clock set back (an NTP step, a user's correction) made
    // the quiet time negative: the watch was blind to a dead server for that hour.
    const { proxy, t } = await setUp({ silenceTimeoutMs: 300, clock: undefined });
    proxy.drop();
    const wallClock = Date.now.bind(Date);
    const setBack = vi.spyOn(Date, 'now').mockImplementation(() => wallClock() - 3_600_000);
    onTestFinished(() => setBack.mockRestore());
    const from = t.mark();
    expect((await t.next('close', from)).reason).toBe('no message from the server for 300 ms');
    t.client.close();
    proxy.heal();
    await expectReleased(t);
  }, 5_000);

  it('hears ws pings: a quiet server whose heartbeat pings arrive is never given up (Node, ws)', async () => {
    const { t, heartbeat } = await setUp({ silenceTimeoutMs: 2_500 });
    for (let beat = 0; beat < 10; beat++) {
      await heartbeat();
      t.simulated.increment(HEARTBEAT_MS);
    }
    expect(t.client.state).toBe('open');
    expect(t.sockets).toHaveLength(1);
    t.client.close();
    await expectReleased(t);
  });
});

describe("the server's heartbeatMessage, for clients that cannot see pings", () => {
  it('keeps a quiet but healthy server heard, and never reaches the app', async () => {
    const blind = pingBlindWebSocket();
    const { t, heartbeat } = await setUp(
      { WebSocket: blind.WebSocket, silenceTimeoutMs: 2_500, heartbeatMessage: 'hb' },
      { heartbeatMessage: 'hb' },
    );
    const socket = blind.sockets[0] as WebSocket;
    for (let beat = 0; beat < 10; beat++) {
      const keepalive = once(socket, 'message');
      await heartbeat();
      expect(String((await keepalive)[0])).toBe('hb');
      t.simulated.increment(HEARTBEAT_MS);
    }
    expect(t.client.state).toBe('open');
    expect(blind.sockets).toHaveLength(1);
    expect(messagesOf(t)).toEqual([]);
    // The app's own messages still arrive (the test server echoes).
    const echoed = t.next('message', t.mark());
    t.client.send('hello');
    await echoed;
    expect(messagesOf(t)).toEqual(['hello']);
    t.client.close();
    await expectReleased(t, blind.sockets);
    expect(listenersOn(socket) + socket.listenerCount('ping')).toBe(0);
  });

  it("a binary message with the keepalive's bytes is the app's: only the text frame is dropped", async () => {
    const { t } = await setUp({ heartbeatMessage: 'hb' }, { heartbeatMessage: 'hb' });
    const echoed = t.next('message', t.mark());
    t.client.send(new TextEncoder().encode('hb')); // the test server echoes it, as binary
    const { data } = await echoed;
    expect(Buffer.isBuffer(data)).toBe(true);
    expect(messagesOf(t)).toEqual(['hb']);
    t.client.close();
    await expectReleased(t);
  });

  it('without it, pings alone do not reach such a client: a healthy server is given up', async () => {
    const blind = pingBlindWebSocket();
    const { t, heartbeat } = await setUp({ WebSocket: blind.WebSocket, silenceTimeoutMs: 2_500 });
    const from = t.mark();
    await heartbeat();
    t.simulated.increment(HEARTBEAT_MS);
    await heartbeat();
    t.simulated.increment(HEARTBEAT_MS);
    expect(t.client.state).toBe('open');
    await heartbeat();
    t.simulated.increment(500);
    t.simulated.increment(0); // the check's second look
    expect((await t.next('close', from)).reason).toBe('no message from the server for 2500 ms');
    t.client.close();
    await expectReleased(t);
  });

  it('is liveness, not activity: a connection that hears only heartbeats still goes idle', async () => {
    const blind = pingBlindWebSocket();
    const { s, t, serverClock } = await setUp(
      { WebSocket: blind.WebSocket, heartbeatMessage: 'hb' },
      { heartbeatMessage: 'hb', idleTimeoutMs: 1_500 },
    );
    const keepalive = once(blind.sockets[0] as WebSocket, 'message');
    serverClock.increment(HEARTBEAT_MS); // a ping and the keepalive go out at 1 s
    expect(String((await keepalive)[0])).toBe('hb');
    serverClock.increment(500); // 1.5 s since the last application message: idle
    expect(s.supervisor.userStats('u')?.idle).toBe(1);
    t.client.close();
    await expectReleased(t, blind.sockets);
  });
});
