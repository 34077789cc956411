/**
 * The README's runbook, "A user hits the limit: what to check", one process: each call
 * it names, run as written on a user at the limit with active, idle and draining
 * connections (real sockets on loopback, simulated time), and what it says each one answers.
 * Across processes: test/cluster/doc-claims-runbook.test.ts.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { readPage } from '../helpers/docs.js';
import {
  type Client,
  closeOf,
  evictAt,
  idleTimeoutMs,
  limit,
  refusal,
  startRulesServer,
  stopReading,
  touch,
  waitForUser,
} from '../helpers/rules.js';

const readme = readPage('docs/observing.md');
const runbook = readme.split(/^### A user hits the limit: what to check$/m)[1]?.split(/^## /m)[0] ?? '';

describe('README: a user hits the limit (one process)', () => {
  it('names the calls tested here', () => {
    for (const call of [
      "supervisor.userStats('42')",
      "supervisor.connectionsOf('42')",
      'audit().ok',
      "supervisor.connectionsOf('42').map(({ id, admittedAt, idleForMs }) => …)",
      "supervisor.disconnectUser('42', 4000, 'reset by\n   operator')",
      "supervisor.connection(id)?.close(4000, 'reset by operator')",
    ])
      expect(runbook).toContain(call);
  });

  it('answers who holds the slots, why none was evicted, and frees the user', async () => {
    // limit 5, evictAt 4, idle after 1 s of simulated time without an application message.
    const t = await startRulesServer({ drainTimeoutMs: 60_000 });
    const { supervisor } = t;

    // Two that go idle, one draining (its client does not read the server's close frame).
    const idle = [await t.open('42'), await t.open('42')];
    const draining = await t.open('42');
    stopReading(draining.ws);
    draining.handle.close(4000, 'leaving');
    t.clock.increment(idleTimeoutMs);
    await waitForUser(supervisor, '42', { live: 2, idle: 2, draining: 1 });

    // Five in use, admitted 100 ms apart on the simulated clock, the last one 100 ms
    // before the refusal: none is quiet for idleTimeoutMs (1 s), so none turns idle.
    const active: Client[] = [];
    const admittedAt: number[] = [];
    for (let i = 0; i < limit; i += 1) {
      admittedAt.push(t.clock.now());
      active.push(await t.open('42'));
      t.clock.increment(100);
    }

    // 1. The refusal.
    expect((await refusal(t.url('42'))).status).toBe(429);
    expect(t.events.rejected).toEqual([
      expect.objectContaining({ reason: 'user-limit', status: 429, userId: '42', live: limit, limit }),
    ]);

    // 2. The slots on this process: idle 0 at the limit, the idle ones evicted first.
    expect(supervisor.userStats('42')).toMatchObject({ live: limit, idle: 0, limit, evictAt });
    expect(t.events.evicted.map((event) => [event.connectionId, event.cause])).toEqual(
      idle.map((client) => [client.id, 'idle']),
    );
    const held = supervisor.connectionsOf('42');
    expect(held.map(({ id }) => id)).toEqual(active.map(({ id }) => id)); // oldest first
    expect(supervisor.audit().ok).toBe(true);
    // When each was admitted and how long it has been idle (no message since it opened).
    expect(held.map(({ id, admittedAt, idleForMs }) => ({ id, admittedAt, idleForMs }))).toEqual(
      active.map(({ id }, i) => ({ id, admittedAt: admittedAt[i], idleForMs: (limit - i) * 100 })),
    );
    for (const { idleForMs } of held) expect(idleForMs).toBeLessThan(idleTimeoutMs);

    // 4. Free the user: one connection, then the rest.
    const [first, ...rest] = active as [Client, ...Client[]];
    const firstClosed = closeOf(first.ws);
    supervisor.connection(first.id)?.close(4000, 'reset by operator');
    expect(await firstClosed).toEqual({ code: 4000, reason: 'reset by operator' });
    expect(supervisor.userStats('42')?.live).toBe(limit - 1);

    const restClosed = rest.map(({ ws }) => closeOf(ws));
    expect(supervisor.disconnectUser('42', 4000, 'reset by operator')).toBe(rest.length);
    expect(supervisor.userStats('42')?.live).toBe(0); // each slot free as it starts draining
    for (const seen of await Promise.all(restClosed)) {
      expect(seen).toEqual({ code: 4000, reason: 'reset by operator' });
    }
    await t.open('42'); // admitted again
  });

  it('dead, not yet found: connections in use whose path died hold the slots until the heartbeat', async () => {
    expect(runbook).toContain('**Dead, not yet found.**');
    expect(runbook).toContain('up to 2 × `heartbeatIntervalMs`');
    const heartbeatIntervalMs = 10_000;
    // Idle only after a minute: the dead ones were in use, and only the heartbeat can free them.
    const t = await startRulesServer({ heartbeatIntervalMs, idleTimeoutMs: 60_000 });
    const { supervisor, clock } = t;
    const old: Client[] = [];
    for (let i = 0; i < limit; i += 1) {
      const client = await t.open('42');
      await touch(client.ws); // in use
      old.push(client);
    }
    // The heartbeat: every one answers its ping...
    const ponged = old.map(({ handle }) => once(handle.socket as NonNullable<typeof handle.socket>, 'pong'));
    clock.increment(heartbeatIntervalMs);
    await Promise.all(ponged);
    // ...and then the network changes: their paths die just after the pong, without a word.
    for (const { ws } of old) stopReading(ws);
    const diedAt = clock.now();

    // The client's new connection: refused with the retry hint, just under 2 heartbeats later.
    clock.increment(heartbeatIntervalMs); // the next ping, unanswered
    clock.increment(heartbeatIntervalMs - 1);
    expect((await refusal(t.url('42'))).status).toBe(429);
    expect(t.events.rejected.at(-1)).toMatchObject({ reason: 'user-limit', retryAfterMs: 5_000 });
    // userStats shows a user really at the limit; connectionsOf, the dead ones as the oldest,
    // idle since the change.
    expect(supervisor.userStats('42')).toMatchObject({ live: limit, idle: 0 });
    const held = supervisor.connectionsOf('42');
    expect(held.map(({ id }) => id)).toEqual(old.map(({ id }) => id));
    for (const { idleForMs } of held) expect(idleForMs).toBeGreaterThanOrEqual(clock.now() - diedAt);
    // A busy server sends to them (activity: 'both', the default): in use again by idleForMs,
    // but silent since their last pong by silentForMs, past one interval: the README's filter.
    expect(runbook).toContain(
      "supervisor.connectionsOf('42').filter(({ silentForMs }) => silentForMs >\n   heartbeatIntervalMs)",
    );
    for (const { handle } of old) expect(handle.send('news')).toBe(true);
    for (const { idleForMs, silentForMs } of held) {
      expect(idleForMs).toBe(0);
      expect(silentForMs).toBe(clock.now() - diedAt);
    }
    expect(held.filter(({ silentForMs }) => silentForMs > heartbeatIntervalMs)).toEqual(held);

    // 2 × heartbeatIntervalMs after the last pong: no pong to the second ping, all terminated.
    clock.increment(1);
    expect(supervisor.userStats('42')?.live ?? 0).toBe(0);
    expect(t.events.disposed.filter((event) => event.reason === 'dead-peer')).toHaveLength(limit);
    await t.open('42'); // admitted again
  });
});
