/**
 * Random interleavings across 3 nodes (issue 12): admissions, closes,
 * activity, idleness, the store going down and up, a node cut off from it
 * and back, and pauses past the lease, on real sockets (three supervisors in
 * this process, one in-memory book with the store's rules, one
 * SimulatedClock). Checked after every step against the global rules:
 *
 * - the book never holds more than `limit` live entries for a user, besides
 *   the ones named for eviction that their nodes have not released yet;
 * - while the store has answered every node throughout, once the orders in
 *   flight have landed, a user's live connections across the nodes are at
 *   most `limit`, and none of them is unbooked;
 * - at the end, with the store back and every node reconnected, each user's
 *   live connections across the nodes are at most `limit` and the book holds
 *   exactly them (nothing unsynced, no release pending).
 */
import fc from 'fast-check';
import { expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import { MemoryBook, type MemoryStore } from '../helpers/memory-slot-store.js';
import { type RulesServer, startRulesServer } from '../helpers/rules.js';
import { ioWait } from '../helpers/server.js';

const ttl = 6_000;
/** Small, so that random runs reach the limit, and go over it while the store is away. */
const limit = 3;
const users = ['ann', 'bob'] as const;

type Step =
  | { kind: 'open'; node: number; user: (typeof users)[number] }
  | { kind: 'close'; pick: number }
  | { kind: 'talk'; pick: number }
  | { kind: 'idle' }
  | { kind: 'storeDown' }
  | { kind: 'storeUp' }
  | { kind: 'cutOff'; node: number }
  | { kind: 'reconnect'; node: number }
  | { kind: 'pastLease' };

const node = fc.integer({ min: 0, max: 2 });
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('open' as const), node, user: fc.constantFrom(...users) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('close' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('talk' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'idle' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'storeDown' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'storeUp' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cutOff' as const), node }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reconnect' as const), node }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'pastLease' as const }) },
);

interface Client {
  ws: WebSocket;
  user: string;
}

function tryOpen(url: string): Promise<WebSocket | undefined> {
  const ws = new WebSocket(url);
  return new Promise((resolve) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_request, response) => {
      response.resume();
      resolve(undefined);
    });
    ws.on('error', () => resolve(undefined));
  });
}

it('the global rules hold after every step of random interleavings across 3 nodes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 30 }), async (steps) => {
      const clock = new SimulatedClock();
      const book = new MemoryBook(() => clock.now());
      const stores: MemoryStore[] = [];
      const nodes: RulesServer[] = [];
      const clients: Client[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          const store = book.store(`n${i}`, ttl);
          stores.push(store);
          nodes.push(
            await startRulesServer({
              clock,
              maxConnectionsPerUser: limit,
              cluster: { store, nodeId: `n${i}`, leaseTtlMs: ttl },
            }),
          );
        }
        await vi.waitFor(() => {
          for (const n of nodes) expect(n.supervisor.stats().cluster?.leaseHeld).toBe(true);
        }, ioWait);
        const live = (user: string) =>
          nodes.reduce((sum, n) => sum + (n.supervisor.userStats(user)?.live ?? 0), 0);
        let troubled = false;
        for (const s of steps) {
          switch (s.kind) {
            case 'open': {
              const ws = await tryOpen((nodes[s.node] as RulesServer).url(s.user));
              if (ws !== undefined) clients.push({ ws, user: s.user });
              break;
            }
            case 'close':
            case 'talk': {
              const open = clients.filter((c) => c.ws.readyState === WebSocket.OPEN);
              const client = open[s.pick % Math.max(1, open.length)];
              if (client === undefined) break;
              if (s.kind === 'close') client.ws.close();
              else client.ws.send('hi');
              break;
            }
            case 'idle':
              clock.increment(1_000);
              break;
            case 'storeDown':
              book.down = true;
              troubled = true;
              break;
            case 'storeUp':
              book.down = false;
              break;
            case 'cutOff':
              (stores[s.node] as MemoryStore).partitioned = true;
              troubled = true;
              break;
            case 'reconnect':
              (stores[s.node] as MemoryStore).partitioned = false;
              break;
            case 'pastLease':
              clock.increment(ttl + 1);
              break;
          }
          await new Promise((resolve) => setTimeout(resolve, 5));
          // Entries named for eviction hold their slots until their nodes release them.
          for (const user of users) expect(book.admittedCounts().get(user) ?? 0).toBeLessThanOrEqual(limit);
          if (!troubled) {
            for (const user of users) {
              await vi.waitFor(() => expect(live(user)).toBeLessThanOrEqual(limit), ioWait);
            }
          }
        }
        // Recovery: the store answers every node again; time passes until each has reconciled.
        book.down = false;
        for (const store of stores) store.partitioned = false;
        await vi.waitFor(
          () => {
            clock.increment(ttl / 3);
            for (const n of nodes) {
              expect(n.supervisor.stats().cluster).toMatchObject({
                leaseHeld: true,
                breaker: 'closed',
                unsynced: 0,
                pendingReleases: 0,
              });
            }
            for (const user of users) {
              expect(live(user)).toBeLessThanOrEqual(limit);
              expect(book.liveCounts().get(user) ?? 0).toBe(live(user));
            }
          },
          { timeout: 10_000, interval: 200 },
        );
        for (const n of nodes) expect(n.supervisor.audit().mismatches).toEqual([]);
      } finally {
        for (const client of clients) client.ws.terminate();
        await Promise.all(nodes.map((n) => n.supervisor.shutdown({ deadlineMs: 100 })));
      }
    }),
    { numRuns: 15 },
  );
}, 240_000);
