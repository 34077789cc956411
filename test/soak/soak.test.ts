/**
 * A short soak inside `npm test`: a few thousand lifecycles with random
 * outcomes through the built runtime (bench/soak.ts over the in-memory
 * transport), in its own process because it needs `node --expose-gc` for
 * full collections and FinalizationRegistry counts. `npm run soak` runs the
 * million.
 */

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { runCommand } from '../helpers/process.js';

const script = 'dist/bench/soak.js';
const root = fileURLToPath(new URL('../../', import.meta.url));

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
  epochs: { admitted: number; disposed: number; resources: Record<string, number> }[];
  failures: string[];
}

it('3,000 random lifecycles leave no actor, supervisor, timer or listener, and every actor is collected', {
  timeout: 60_000,
}, async () => {
  if (!existsSync(`${root}${script}`))
    throw new Error(`${script} is missing: run "npm run build" first (npm test does)`);
  const soak = runCommand(process.execPath, [
    '--expose-gc',
    script,
    '--lifecycles',
    '3000',
    '--epoch',
    '1000',
    '--samples',
    '3',
    // Few users, so that quiet connections pile up to the eviction threshold.
    '--users',
    '30',
    '--json',
  ]);
  const code = await soak.exited;
  const result = JSON.parse(soak.output().trim().split('\n').at(-1) ?? '') as SoakResult;
  expect(result.failures).toEqual([]);
  expect(code).toBe(0);
  expect(result.lifecycles).toBe(3000);
  expect(result.totals.admitted + result.totals.rejected).toBe(3000);
  expect(result.totals.disposed).toBe(result.totals.admitted);
  expect(result.totals.errors).toBe(0);
  // Three supervisors lived and shut down; each left nothing behind.
  expect(result.epochs).toHaveLength(3);
  for (const epoch of result.epochs) {
    expect(epoch.resources).toEqual({
      connectionActors: 0,
      userSupervisors: 0,
      pendingTimers: 0,
      socketListeners: 0,
    });
    expect(epoch.disposed).toBe(epoch.admitted);
  }
  // Every outcome happened.
  for (const outcome of ['closed', 'error', 'app-close', 'evicted', 'dead-peer', 'shutdown', 'refused']) {
    expect(result.reasons[outcome], outcome).toBeGreaterThan(0);
  }
  // The actors were not only stopped but garbage-collected.
  const { created, collected } = result.finalization;
  expect(created.connections).toBe(result.totals.admitted);
  expect(collected.connections).toBeGreaterThanOrEqual(created.connections * 0.99);
  expect(collected.supervisors).toBeGreaterThanOrEqual(created.supervisors * 0.99);
});
