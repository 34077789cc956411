/**
 * The storm, heavy (npm run test:adversarial only): thousands of sockets in
 * this process. 2,000 simultaneous upgrades on one user at limit 5, and 3,000
 * connections of 150 users dropped all at once (TCP resets).
 */
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import {
  type Attempt,
  attempt,
  expectLeakFree,
  inBatches,
  openFileLimit,
  startTarget,
  within,
} from '../helpers/adversary.js';
import { limit } from '../helpers/rules.js';

/** Each connection in this process costs two descriptors: the client's and the server's. */
const fits = (connections: number) => openFileLimit() > 2 * connections + 200;

function tally(outcomes: Attempt[]) {
  const opened: WebSocket[] = [];
  const statuses: Record<number, number> = {};
  const errors: string[] = [];
  for (const outcome of outcomes) {
    if ('opened' in outcome) opened.push(outcome.opened);
    else if ('status' in outcome) statuses[outcome.status] = (statuses[outcome.status] ?? 0) + 1;
    else errors.push(outcome.error);
  }
  return { opened, statuses, errors };
}

describe('heavy storms', () => {
  const stormSize = 2_000;
  it.skipIf(!fits(stormSize))(
    `${stormSize} simultaneous upgrades on one user at limit ${limit}`,
    async () => {
      const t = await startTarget();
      let peak = 0;
      t.supervisor.on('admitted', () => {
        queueMicrotask(() => {
          peak = Math.max(peak, t.supervisor.userStats('storm')?.live ?? 0);
        });
      });
      const { opened, statuses, errors } = tally(
        await within(
          Promise.all(Array.from({ length: stormSize }, () => attempt(t.url('storm')))),
          60_000,
          'every attempt to be answered',
          () => t.supervisor.stats().counters,
        ),
      );
      expect({ opened: opened.length, statuses, errors }).toEqual({
        opened: limit,
        statuses: { 429: stormSize - limit },
        errors: [],
      });
      expect(peak).toBe(limit);
      for (const ws of opened) ws.close();
      await expectLeakFree(t.supervisor, 10_000);
      expect(t.errors).toEqual([]);
    },
  );

  const held = 3_000;
  const users = 150;
  it.skipIf(!fits(held))(`${held} connections of ${users} users, all reset at once (RST)`, async () => {
    const t = await startTarget({ supervisor: { maxConnectionsPerUser: 20 } });
    const outcomes = await within(
      inBatches(
        Array.from({ length: held }, (_, i) => `u${i % users}`),
        200,
        (user) => attempt(t.url(user)),
      ),
      90_000,
      `${held} connections to open`,
      () => t.supervisor.stats().counters,
    );
    const { opened, statuses, errors } = tally(outcomes);
    expect({ opened: opened.length, statuses, errors }).toEqual({ opened: held, statuses: {}, errors: [] });
    expect(t.supervisor.stats()).toMatchObject({ connections: held, users });

    // A reset, not a close: the server reads ECONNRESET on every one of them.
    for (const ws of opened) (ws as unknown as { _socket: Socket })._socket.resetAndDestroy();
    await expectLeakFree(t.supervisor, 30_000);
    expect(t.events.disposed).toHaveLength(held);
    expect(t.errors).toEqual([]);
  });
});
