/**
 * The `reaped` event from a `cluster.store` of the app's own (SlotStoreEvents.reaped, optional):
 * told on as the supervisor's event, a copy of what the store gave; a pass that removed nothing
 * is not told; a call out of shape is reported once as WSSUP_INVALID_OPTION and dropped. Told
 * while the store's stop() runs (a page purged then is emptied all the same), never once
 * shutdown() has resolved.
 */
import { expect, it, vi } from 'vitest';
import type { ReapedEvent, SlotStoreEvents } from '../../src/index.js';
import { MemoryBook, MemoryStore } from '../helpers/memory-slot-store.js';
import { ioWait, startServer } from '../helpers/server.js';

const leaseTtlMs = 30_000;

/** A store whose reaper passes tell `passes`, one a call of reap(), then nothing. */
class TellingStore extends MemoryStore {
  events: SlotStoreEvents | undefined;
  readonly passes: unknown[][] = [];
  override async start(events: SlotStoreEvents): Promise<void> {
    this.events = events;
    await super.start(events);
  }
  override async reap(): Promise<number> {
    for (const told of this.passes.shift() ?? []) this.events?.reaped?.(told as never);
    return super.reap();
  }
}

it("a store of one's own: its reaped() told as the event (a copy), an empty pass not, a bad shape reported once", async () => {
  const book = new MemoryBook(() => Date.now());
  const store = new TellingStore(book, 'own-1', leaseTtlMs);
  const offline = ['zed', 'yan'];
  store.passes.push(
    [{ nodeId: 'own-dead', incarnation: 7, removed: 3, offline }],
    [{ nodeId: 'own-dead', incarnation: 8, removed: 0, offline: [] }],
    [{ nodeId: 'own-dead', incarnation: 9, removed: 1, offline: 'zed' }],
    [{ nodeId: 'own-dead', removed: 1, offline: [] }],
  );
  const t = await startServer({ cluster: { store, nodeId: 'own-1', leaseTtlMs, reaperIntervalMs: 100 } });
  const reaped: ReapedEvent[] = [];
  t.supervisor.on('reaped', (event) => reaped.push(event));
  await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
  await vi.waitFor(() => expect(store.passes).toHaveLength(0), ioWait);
  expect(reaped).toEqual([{ nodeId: 'own-dead', incarnation: 7, removed: 3, offline: ['zed', 'yan'] }]);
  expect(reaped[0]?.offline).not.toBe(offline);
  const invalid = t.errors.filter((error) => error.code === 'WSSUP_INVALID_OPTION');
  expect(invalid).toHaveLength(1);
  expect(invalid[0]?.message).toContain('reaped');
  t.errors.splice(0);
});

/** A store whose stop() tells a page purged meanwhile, and another once it has resolved. */
class StoppingStore extends TellingStore {
  late: Promise<void> | undefined;
  override async stop(): Promise<void> {
    this.events?.reaped?.({ nodeId: 'own-dead', incarnation: 4, removed: 2, offline: ['ida'] });
    await super.stop();
    const events = this.events;
    this.late = new Promise((resolve) =>
      setTimeout(() => {
        events?.reaped?.({ nodeId: 'own-dead', incarnation: 5, removed: 1, offline: ['jo'] });
        resolve();
      }, 20),
    );
  }
}

it("shutdown(): a page told while the store's stop runs is heard; nothing once shutdown() has resolved", async () => {
  const book = new MemoryBook(() => Date.now());
  const store = new StoppingStore(book, 'own-2', leaseTtlMs);
  const t = await startServer({ cluster: { store, nodeId: 'own-2', leaseTtlMs, reaperIntervalMs: 100 } });
  const reaped: ReapedEvent[] = [];
  t.supervisor.on('reaped', (event) => reaped.push(event));
  await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
  await t.supervisor.shutdown({ deadlineMs: 200 });
  expect(reaped).toEqual([{ nodeId: 'own-dead', incarnation: 4, removed: 2, offline: ['ida'] }]);
  await store.late;
  expect(reaped).toHaveLength(1);
  expect(t.errors).toEqual([]);
});
