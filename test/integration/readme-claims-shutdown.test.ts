/**
 * README, "Paced shutdown" and "Observing it" (shutdown): claims the other
 * shutdown tests leave open. Each batch closes its share of what is *still*
 * live, `ceil(live / batches left)`, not a share fixed when the shutdown
 * started: connections that left on their own between batches are not
 * counted again. Real sockets, a SimulatedClock.
 */
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { closeOf, connectClient, type OwnServer, startOwnServer, touch } from '../helpers/rules.js';
import { expectNoLeaks } from '../helpers/server.js';

async function openMany(t: OwnServer, users: string[]): Promise<WebSocket[]> {
  const opened: WebSocket[] = [];
  for (const user of users) {
    const ws = await connectClient(t.url(user));
    await touch(ws);
    opened.push(ws);
  }
  return opened;
}

async function disposedCount(t: OwnServer, count: number): Promise<void> {
  if (t.events.disposed.length >= count) return;
  await new Promise<void>((resolve) => {
    const off = t.supervisor.on('disposed', () => {
      if (t.events.disposed.length >= count) {
        off();
        resolve();
      }
    });
  });
}

const live = (t: OwnServer) => t.supervisor.stats().byState.active;

describe('paced shutdown: each batch closes ceil(live / batches left) of what is still live', () => {
  it('9 connections in 3 batches; 3 leave on their own after the first: the second closes ceil(3 / 2) = 2, the last 1', async () => {
    const t = await startOwnServer();
    const clients = await openMany(t, ['ann', 'ann', 'ann', 'ben', 'ben', 'ben', 'cid', 'cid', 'cid']);
    const closes = clients.map((ws) => closeOf(ws));

    const done = t.supervisor.shutdown({ deadlineMs: 1_000, pace: { windowMs: 300, batches: 3 } });
    // Batch 1 of 3, at once: ceil(9 / 3) = 3, the oldest (no connection is idle).
    expect(live(t)).toBe(6);
    await disposedCount(t, 3);
    expect(t.events.disposed.every((event) => event.reason === 'shutdown')).toBe(true);

    // Three of the six still open leave on their own before the next batch.
    for (const ws of clients.slice(6)) ws.close();
    await disposedCount(t, 6);
    expect(live(t)).toBe(3);

    t.clock.increment(100); // batch 2 of 3: ceil(3 / 2) = 2, not the 3 a share fixed at the start would close
    expect(live(t)).toBe(1);
    await disposedCount(t, 8);

    t.clock.increment(100); // batch 3 of 3: the rest
    expect(live(t)).toBe(0);
    await done;
    const codes = (await Promise.all(closes)).map((close) => close.code);
    expect(codes.slice(0, 6)).toEqual([1001, 1001, 1001, 1001, 1001, 1001]);
    expect(t.events.disposed.map((event) => event.reason).sort()).toEqual([
      ...Array(3).fill('closed'),
      ...Array(6).fill('shutdown'),
    ]);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});
