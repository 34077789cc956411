/**
 * After 4002 (session expired: the server's `authenticate` gave an
 * `expiresAt` that has passed), the client reconnects at once, not backed off
 * and with no failed attempt counted, and its `url` function is called again:
 * the new attempt carries a fresh token. A 4002 before the connection was
 * stable (`stableAfterMs`) is backed off instead: a server that ends every
 * connection with 4002 at once must not be called back in a loop. Real
 * sockets; the server's heartbeat and the client's delays on simulated clocks.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { noHeartbeat, startRulesServer } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks } from '../helpers/server.js';
import { expectReleased, sentUrl, startClient, startClosingServer } from './helpers.js';

const heartbeatIntervalMs = 1_000;

describe('a session that expires', () => {
  it('closes with 4002; the client reconnects at once, asking its url function for a fresh token', async () => {
    /** token → when the session it opens ends (epoch ms). */
    const sessions = new Map<string, number>();
    const server = await startRulesServer({
      heartbeatIntervalMs,
      idleTimeoutMs: noHeartbeat,
      authenticate: (request) => {
        const token = new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('user') ?? '';
        const expiresAt = sessions.get(token);
        return expiresAt === undefined ? null : { userId: 'ann', expiresAt };
      },
    });
    let fetched = 0;
    const t = startClient({
      url: async () => {
        fetched += 1;
        const token = `token-${fetched}`;
        // The first token ends between the first and second heartbeat; the next lasts.
        sessions.set(token, Date.now() + (fetched === 1 ? 1.5 * heartbeatIntervalMs : 3_600_000));
        return server.url(token);
      },
      backoff: { baseMs: 60_000 }, // a backoff would be plain to see
      // Stable after a heartbeat: 4002 reconnects at once only a connection that lasted (below).
      stableAfterMs: heartbeatIntervalMs,
    });
    expect((await t.next('open', 0)).url).toEqual(sentUrl(t, server.url('token-1')));
    const [first] = server.handles;
    const pong = once(first?.socket as WebSocket, 'pong');
    server.clock.increment(heartbeatIntervalMs); // not expired yet: a ping, answered
    t.simulated.increment(heartbeatIntervalMs); // the client's clock keeps the same time: stable
    await pong;
    expect(t.client.state).toBe('open');

    const from = t.mark();
    server.clock.increment(heartbeatIntervalMs); // past the expiry
    expect(await t.next('close', from)).toMatchObject({
      code: 4002,
      reason: 'session expired',
      kind: 'session-expired',
      next: 'reconnect',
    });
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 0, attempt: 0 });
    t.simulated.increment(0);
    expect((await t.next('open', from)).url).toEqual(sentUrl(t, server.url('token-2')));
    expect(fetched).toBe(2);
    await expect.poll(() => server.events.disposed.length).toBe(1);
    expect(server.events.disposed).toMatchObject([{ userId: 'ann', reason: 'expired', closeCode: 4002 }]);
    expect(server.supervisor.userStats('ann')).toMatchObject({ live: 1 });

    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });
});

describe('a server that answers every connection with 4002 at once', () => {
  it('is backed off as a failure, not reconnected to at once: 4002 before stableAfterMs cannot make a loop', async () => {
    const server = await startClosingServer({ code: 4002, reason: 'session expired' });
    let fetched = 0;
    const t = startClient({
      url: async () => {
        fetched += 1;
        return server.url;
      },
      backoff: { baseMs: 1_000 },
    });
    const from = t.mark();
    expect(await t.next('close', from)).toMatchObject({
      code: 4002,
      kind: 'session-expired',
      next: 'reconnect',
    });
    // random() is 0.5: half of the first step, and the attempt counts.
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 500, attempt: 1 });
    t.simulated.increment(0);
    expect(t.client.state).toBe('waiting');
    expect(server.connections()).toBe(1);

    const second = t.mark();
    t.simulated.increment(500);
    await t.next('close', second);
    expect(await t.next('reconnecting', second)).toEqual({ delayMs: 1_000, attempt: 2 });
    expect([server.connections(), fetched]).toEqual([2, 2]);

    t.client.close();
    await expectReleased(t);
  });
});
