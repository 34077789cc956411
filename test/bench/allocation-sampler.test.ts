import { describe, expect, it } from 'vitest';
import { AllocationSampler } from '../../bench/allocation-sampler.js';
import { codeGroup } from '../../bench/code-area.js';

/** Allocates about `bytes` of short-lived garbage: Sets of numbers, made by V8's own code. */
function makeGarbage(bytes: number): number {
  let kept = 0;
  // A Set of 64 small integers is about 1.5 KB on 64-bit V8 (its hash table and backing store).
  for (let made = 0; made < bytes; made += 1_024) {
    const set = new Set<number>();
    for (let i = 0; i < 64; i++) set.add(i);
    kept += set.size;
  }
  return kept;
}

describe('the bench allocation sampler', () => {
  it('counts garbage that was collected during the window, charged to the code that made it', async () => {
    const sampler = new AllocationSampler(1_024);
    await sampler.start();
    makeGarbage(16 * 1024 * 1024);
    const { bytes, byGroup } = await sampler.stop();
    // Most of it was collected by minor GCs before stop(): it must still be counted.
    expect(bytes).toBeGreaterThan(12 * 1024 * 1024);
    const mine = Object.entries(byGroup).find(([group]) => group.includes('allocation-sampler.test'));
    expect(mine, JSON.stringify(byGroup)).toBeDefined();
    // The Sets are V8's own allocations: charged to the function that asked for them, not to "native".
    expect((mine?.[1] ?? 0) / bytes).toBeGreaterThan(0.8);
  });

  it('refuses to start twice, or to stop when not running', async () => {
    const sampler = new AllocationSampler();
    await expect(sampler.stop()).rejects.toThrow('not running');
    await sampler.start();
    await expect(sampler.start()).rejects.toThrow('already running');
    await sampler.stop();
  });
});

describe('code groups', () => {
  it('fold our files, each library and node into the groups the tables show', () => {
    expect(codeGroup('file:///app/node_modules/xstate/dist/xstate.cjs.js')).toBe('xstate');
    expect(codeGroup('file:///app/node_modules/engine.io/build/socket.js')).toBe('socket.io');
    expect(codeGroup('file:///work/main/dist/src/supervisor.js')).toBe('ws-supervisor');
    expect(codeGroup('file:///work/main/dist/machines/connection.machine.js')).toBe('ws-supervisor');
    expect(codeGroup('node:events')).toBe('node internals');
    expect(codeGroup('')).toBe('(vm / gc / native)');
  });
});
