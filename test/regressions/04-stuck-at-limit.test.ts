/**
 * Incident mechanism 4: a user stuck at the limit after many reconnects.
 * Each reconnect left the old manager behind; after twenty, the user was
 * refused for good ("maximum number of WebSocket managers (20) reached").
 *
 * Here an old connection that is still open but unused goes idle and is
 * evicted once the user reaches T (70 % of the limit), and one whose peer
 * vanished without a word is found dead by its heartbeat. Replayed with a
 * client that reconnects without ever closing its old socket.
 */
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { evictAt, idleTimeoutMs, limit, refusal, startRulesServer, stopReading } from '../helpers/rules.js';
import { connect } from '../helpers/server.js';

describe('regression: a user stuck at the limit after many reconnects', () => {
  it('never refuses a client that reconnects 100 times and abandons each old socket', async () => {
    const t = await startRulesServer(); // limit 5, T = 4, idle after 1 s of simulated time
    const user = 'user-101463487227881885914';
    const abandoned: WebSocket[] = [];
    for (let reconnect = 0; reconnect < 100; reconnect += 1) {
      abandoned.push((await t.open(user)).ws); // the old one is left open, unused
      t.clock.increment(idleTimeoutMs); // time passes: the unused ones go idle
      const book = t.supervisor.userStats(user);
      expect(book?.live ?? 0).toBeLessThan(evictAt + 1);
    }
    expect(t.events.rejected).toEqual([]);
    // Idle ones went as soon as the user reached T, longest idle first.
    expect(t.events.evicted.length).toBeGreaterThanOrEqual(100 - evictAt);
    expect(t.supervisor.userStats(user)?.live).toBeLessThanOrEqual(limit);
  });

  it('frees the slots of peers that vanished without closing, by their heartbeat', async () => {
    const heartbeatIntervalMs = 10_000;
    // Idle eviction far away: only the heartbeat can free these slots.
    const t = await startRulesServer({ heartbeatIntervalMs, idleTimeoutMs: 1_000_000_000 });
    const user = 'user-105945141827451681156';
    for (let round = 0; round < 10; round += 1) {
      // Five connections whose peers go silent: no pong, no close, no FIN.
      for (let i = 0; i < limit; i += 1) {
        const ws = await connect(t.url(user), { autoPong: false });
        stopReading(ws);
      }
      expect((await refusal(t.url(user))).status).toBe(429); // at the limit, nothing idle to evict
      t.clock.increment(heartbeatIntervalMs); // ping
      t.clock.increment(heartbeatIntervalMs); // no pong by the next heartbeat: dead
      expect(t.supervisor.userStats(user)?.live ?? 0).toBe(0);
    }
    expect(t.events.disposed.filter((event) => event.reason === 'dead-peer')).toHaveLength(10 * limit);
  });
});
