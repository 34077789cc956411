/**
 * A short soak inside `npm test`: 24,000 lifecycles with random
 * outcomes through ONE supervisor of the built runtime (bench/soak.ts over
 * the in-memory transport), in its own process because it needs
 * `node --expose-gc` for full collections and FinalizationRegistry counts.
 * Between windows every peer is dropped and the heap sampled empty; a heap
 * that grows with the lifecycles fails it (a per-connection leak of a few
 * hundred bytes, such as issue 10's, shows as 300+ bytes per lifecycle).
 * `npm run soak` runs the million.
 */

import { expect, it } from 'vitest';
import { startSoak, verdictOf } from './soak-process.js';

const script = 'dist/bench/soak.js';

interface SoakResult {
  lifecycles: number;
  ok: boolean;
  totals: {
    attempts: number;
    admitted: number;
    rejected: number;
    evicted: number;
    disposed: number;
    errors: number;
  };
  reasons: Record<string, number>;
  finalization: {
    created: { connections: number; supervisors: number };
    collected: { connections: number; supervisors: number };
  };
  resources: Record<string, number>;
  heap: { growthBytesPerLifecycle: number | undefined };
  heapSeries: { lifecycles: number }[];
  failures: string[];
}

const lifecycles = 24_000;

it(`${lifecycles} random lifecycles through one supervisor leave nothing behind, and the heap does not grow with them`, {
  timeout: 120_000,
}, async () => {
  const soak = startSoak(script, [
    '--lifecycles',
    String(lifecycles),
    '--samples',
    '6',
    // Few users, so that quiet connections pile up to the eviction threshold.
    '--users',
    '30',
    '--json',
  ]);
  const code = await soak.exited;
  const result = verdictOf<SoakResult>(soak.output());
  expect(result.failures).toEqual([]);
  expect(code).toBe(0);
  expect(result.lifecycles).toBe(lifecycles);
  expect(result.totals.admitted + result.totals.rejected).toBe(lifecycles);
  expect(result.totals.disposed).toBe(result.totals.admitted);
  expect(result.totals.errors).toBe(0);
  // One supervisor lived through every lifecycle and shut down, leaving nothing behind.
  expect(result.resources).toEqual({
    connectionActors: 0,
    userSupervisors: 0,
    lingeringSupervisors: 0,
    pendingTimers: 0,
    socketListeners: 0,
    closeRefusals: 0,
    authenticating: 0,
    rooms: 0,
    roomMemberships: 0,
  });
  // Six drained samples; the fitted growth over the last four (past the warm-up) is bounded.
  expect(result.heapSeries).toHaveLength(6);
  expect(result.heap.growthBytesPerLifecycle).toBeLessThanOrEqual(64);
  // Every outcome happened.
  for (const outcome of ['closed', 'error', 'app-close', 'evicted', 'dead-peer', 'shutdown', 'refused']) {
    expect(result.reasons[outcome], outcome).toBeGreaterThan(0);
  }
  // The actors were not only stopped but garbage-collected.
  const { created, collected } = result.finalization;
  expect(created.connections).toBe(result.totals.admitted);
  expect(collected.connections).toBeGreaterThanOrEqual(created.connections * 0.99);
  // The soak counts the actors of the machine with id 'userSupervisor': if none is found, the
  // line below would compare 0 with 0.
  expect(created.supervisors, 'user supervisors created').toBeGreaterThan(0);
  expect(collected.supervisors).toBeGreaterThanOrEqual(created.supervisors * 0.99);
});
