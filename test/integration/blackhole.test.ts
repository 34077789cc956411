/**
 * A network that vanishes without a FIN or a RST (a NAT entry expired, a phone's radio switched
 * networks): a TCP proxy between createClient (Node, ws's WebSocket) and a real supervisor
 * (preset 'test': a heartbeat every second, on real time) stops forwarding both ways and keeps
 * both TCP sockets open. What each side notices, and when the network comes back (new flows
 * pass again; the old one stays dead, as a NAT's does), whether the client gets back in.
 *
 * Real short intervals: the server's heartbeat runs on real time here, and the assertions are
 * outcomes (who was disposed, why, what the client says), never durations. The client's own
 * delays run on a SimulatedClock where the test says so (startClient).
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { type ClientCloseEvent, type ClientOptions, createClient } from '../../src/client/index.js';
import { messagesOf, startClient } from '../client/helpers.js';
import { startBlackholeProxy } from '../helpers/blackhole-proxy.js';
import { startServer } from '../helpers/server.js';

/** A createClient of ws's WebSocket on real timers, its events recorded; closed after the test. */
function startNodeClient(url: string, options: Partial<ClientOptions> = {}) {
  const client = createClient({ url, WebSocket, backoff: { baseMs: 50, capMs: 200 }, ...options });
  onTestFinished(() => client.close());
  const closes: ClientCloseEvent[] = [];
  let opens = 0;
  client.on('open', () => {
    opens += 1;
  });
  client.on('close', (event) => closes.push(event));
  return { client, closes, opens: () => opens };
}

/** One connection per user, never idle within a test (the 'test' preset's 1 s would evict it). */
const atLimitOfOne = { maxConnectionsPerUser: 1, idleTimeoutMs: 600_000 } as const;

const wait = { timeout: 15_000, interval: 20 } as const;

describe('a network gone dark (no FIN, no RST) between createClient and a supervisor', () => {
  it('defaults: the server disposes the peer (dead-peer), the client gives the socket up by the heartbeat offer and gets back in', async () => {
    const server = await startServer(atLimitOfOne);
    const proxy = await startBlackholeProxy(server.port);
    // The client on a SimulatedClock (its silence watch and backoff move only when the test
    // says); the server, the proxy and the sockets on real time.
    const t = startClient({ url: `ws://127.0.0.1:${proxy.port}/?user=ana` });
    await t.next('open');
    // The offer (`wssup-heartbeat 1000`) came first, as the socket opened: dropped, not the app's.
    const echoed = t.next('message', t.mark());
    expect(t.client.send('before')).toBe(true);
    expect(await echoed).toEqual({ data: 'before' });
    expect(messagesOf(t)).toEqual(['before']);

    proxy.blackhole();
    // The server's heartbeat finds the peer dead: the pong of its ping never comes.
    await vi.waitFor(() => expect(server.disposed.map((event) => event.reason)).toEqual(['dead-peer']), wait);
    expect(server.supervisor.stats().connections).toBe(0); // no ghost: the slot is free

    // The client: the offer said 1000 ms, so it waits 2 × 1000 + 5000 ms of silence.
    t.simulated.increment(6_999);
    expect(t.client.state).toBe('open');
    const from = t.mark();
    t.simulated.increment(1);
    t.simulated.increment(0); // the check's second look, one turn later: still silent
    expect(await t.next('close', from)).toMatchObject({
      code: 1006,
      reason: 'no message from the server for 7000 ms',
      cause: 'silence',
      wasClean: false,
      next: 'reconnect',
    });

    proxy.restore();
    const reopened = t.next('open', t.mark());
    t.simulated.increment(60_000); // the backoff's wait
    await reopened;
    // At the per-user limit of 1: admitted, not refused (the dark one was disposed already).
    expect(
      t.events.filter(([type, event]) => type === 'close' && (event as ClientCloseEvent).code === 4429),
    ).toEqual([]);
    await vi.waitFor(() => expect(server.supervisor.stats().connections).toBe(1), wait);
    expect(t.client.send('back')).toBe(true);
  });

  it("a client that does not ask (its own heartbeatMessage, no silenceTimeoutMs) keeps today's behaviour: it never notices", async () => {
    const server = await startServer(atLimitOfOne);
    const proxy = await startBlackholeProxy(server.port);
    const t = startClient({ url: `ws://127.0.0.1:${proxy.port}/?user=ana`, heartbeatMessage: 'hb' });
    await t.next('open');
    proxy.blackhole();
    await vi.waitFor(() => expect(server.disposed.map((event) => event.reason)).toEqual(['dead-peer']), wait);
    proxy.restore();
    // No watch without silenceTimeoutMs, and a TCP connection through a dead flow never fails
    // while the client only listens: it still says open, an hour later, and writes into the void.
    t.simulated.increment(3_600_000);
    expect(t.client.state).toBe('open');
    expect(t.events.filter(([type]) => type === 'close')).toEqual([]);
    expect(t.client.send('into the void')).toBe(true);
    expect(server.supervisor.stats().connections).toBe(0); // the server never hears it again
  });

  it('opt-ins (server and client heartbeatMessage, silenceTimeoutMs): the client gives the socket up and gets back in', async () => {
    const server = await startServer({ ...atLimitOfOne, heartbeatMessage: 'hb' });
    const proxy = await startBlackholeProxy(server.port);
    const t = startNodeClient(`ws://127.0.0.1:${proxy.port}/?user=ana`, {
      heartbeatMessage: 'hb',
      silenceTimeoutMs: 2_500, // above the heartbeat (1 s), twice it and more
      connectTimeoutMs: 1_000, // an attempt made while dark is given up soon
    });
    await vi.waitFor(() => expect(t.client.state).toBe('open'), wait);

    proxy.blackhole();
    await vi.waitFor(() => expect(t.closes.map((event) => event.cause)).toEqual(['silence']), wait);
    expect(t.closes[0]).toMatchObject({ code: 1006, reason: 'no message from the server for 2500 ms' });
    // While dark, every attempt through the proxy is dark too (never opens); back, the next one opens.
    proxy.restore();
    await vi.waitFor(() => expect(t.opens()).toBe(2), wait);
    expect(t.client.state).toBe('open');
    // At the per-user limit of 1: no 429. The dark connection was disposed by the heartbeat,
    // or replaced by the same instance's reconnect, whichever came first.
    expect(t.closes.filter((event) => event.kind === 'too-many-requests')).toEqual([]);
    expect(server.disposed.map((event) => event.reason)).toEqual([
      expect.stringMatching(/^(dead-peer|replaced)/),
    ]);
    expect(server.supervisor.stats().connections).toBe(1);
    expect(t.client.send('back')).toBe(true);
  });
});
