/**
 * A broadcast over idle connections: the data goes out at once, and their idle → live edges
 * (two XState steps each) are taken EDGES_PER_TURN a loop turn, the rest after that turn's I/O
 * (src/send-edges.ts). Taken all in the call, 50,000 of them held the event loop for seconds
 * (bench/RESULTS.md). The rules do not change: an admission reads the user's idleness after
 * the user's waiting edges are taken, so a connection just sent to is never evicted as idle.
 *
 * The in-memory transport holds the connections (hundreds of real sockets add nothing here);
 * the clock is a SimulatedClock, so the connections turn idle exactly when the test says.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

import { expect, it, onTestFinished } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createMemorySupervisor } from '../../bench/memory-supervisor.js';
import type { MemoryPeer } from '../../bench/memory-transport.js';
import type { EvictedEvent } from '../../src/index.js';
import { EDGES_PER_TURN } from '../../src/send-edges.js';
import { expectNoLeaks } from '../helpers/server.js';

const idleTimeoutMs = 1_000;
const limit = 10;
const evictAt = 7; // ceil(0.7 × 10)

async function idleSupervisor() {
  const clock = new SimulatedClock();
  const memory = createMemorySupervisor({
    clock,
    maxConnectionsPerUser: limit,
    idleTimeoutMs,
    heartbeatIntervalMs: 3_600_000,
    lingerMs: 0,
  });
  onTestFinished(() => memory.supervisor.shutdown({ deadlineMs: 0 }));
  const evicted: EvictedEvent[] = [];
  memory.supervisor.on('evicted', (event) => evicted.push(event));
  return { ...memory, clock, evicted };
}

it(`sends to every idle connection at once, and takes their edges ${EDGES_PER_TURN} a loop turn`, async () => {
  const { supervisor, connect, clock } = await idleSupervisor();
  const count = 2 * EDGES_PER_TURN + 1;
  const peers: MemoryPeer[] = [];
  for (let i = 0; i < count; i++) peers.push(await connect(`u${i}`));
  clock.increment(idleTimeoutMs);
  expect(supervisor.stats().idle).toBe(count);

  expect(supervisor.broadcast('news')).toBe(count);
  // Every client has the message now; the machines learn of it turn by turn.
  expect(peers.every((peer) => peer.ws?.received === 1)).toBe(true);
  expect(supervisor.stats().idle).toBe(count - EDGES_PER_TURN);
  await nextTurn();
  expect(supervisor.stats().idle).toBe(1);
  await nextTurn();
  expect(supervisor.stats().idle).toBe(0);
  expect(supervisor.stats().connections).toBe(count);

  // Live again, by the rule: idle once more a whole idleTimeoutMs after the broadcast.
  clock.increment(idleTimeoutMs - 1);
  expect(supervisor.stats().idle).toBe(0);
  clock.increment(1);
  expect(supervisor.stats().idle).toBe(count);

  await supervisor.shutdown({ deadlineMs: 0 });
  expectNoLeaks(supervisor);
});

it('an admission right after a broadcast finds the connections it reached active: none is evicted as idle', async () => {
  const { supervisor, connect, clock, evicted } = await idleSupervisor();
  // Others first: the broadcast reaches them first and spends the turn's budget on them.
  for (let i = 0; i < EDGES_PER_TURN; i++) await connect(`u${i}`);
  const alice: MemoryPeer[] = [];
  for (let i = 0; i < evictAt - 1; i++) alice.push(await connect('alice'));
  clock.increment(idleTimeoutMs);
  expect(supervisor.userStats('alice')).toMatchObject({ live: evictAt - 1, idle: evictAt - 1 });

  supervisor.broadcast('news');
  // Her edges wait for the next turn; her next connection is admitted before it, and reaches T.
  expect(supervisor.userStats('alice')).toMatchObject({ idle: evictAt - 1 });
  let turned = false;
  setImmediate(() => {
    turned = true;
  });
  const newcomer = await connect('alice');
  expect(turned).toBe(false); // admitted in this same turn: the waiting edges could not run first
  expect(newcomer.open).toBe(true);
  expect(supervisor.userStats('alice')).toMatchObject({ live: evictAt, idle: 0 });

  expect(evicted).toEqual([]);
  expect(alice.every((peer) => peer.open)).toBe(true);
});
