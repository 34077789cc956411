/**
 * What `onError` says when a store call fails with a plain error (a `cluster.store` of the
 * app's own that throws, or a client that lacks a method): the operation and why. It said
 * only "slot store: stop failed", the reason left in `cause`: with node-redis 4 every
 * shutdown reported just that (the cause: `subscriber.destroy is not a function`), and an
 * app that logs `${error.code}: ${error.message}`, as the README's cluster example does,
 * could not tell what went wrong. (Found by running the packed package with node-redis 4.)
 *
 * A store of the test's own (the in-memory book with the store's rules) on a real server.
 */
import { describe, expect, it, vi } from 'vitest';
import { SupervisorError } from '../../src/index.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { connectRefused, ioWait, startServer } from '../helpers/server.js';

describe('a store call that fails with a plain error', () => {
  it('stop: reported with the operation and its reason', async () => {
    const store = new MemoryBook(() => Date.now()).store('plain-stop', 3_000);
    store.stop = async () => {
      throw new TypeError('subscriber.destroy is not a function');
    };
    const t = await startServer({ cluster: { store, nodeId: 'plain-stop' } });
    await t.supervisor.ready({ signal: AbortSignal.timeout(5_000) });
    await t.supervisor.shutdown();
    const reported = t.errors.map((error) => `${error.code}: ${error.message}`);
    expect(reported).toEqual([
      'WSSUP_STORE_UNAVAILABLE: slot store: stop failed: subscriber.destroy is not a function',
    ]);
    expect(t.errors[0]?.cause).toBeInstanceOf(TypeError);
  });

  it('admit: reported with the operation and its reason; the outage policy decides', async () => {
    const store = new MemoryBook(() => Date.now()).store('plain-admit', 3_000);
    store.admit = async () => {
      throw new Error('the book is read-only');
    };
    const t = await startServer({ cluster: { store, nodeId: 'plain-admit', onStoreUnavailable: 'reject' } });
    await t.supervisor.ready({ signal: AbortSignal.timeout(5_000) });
    expect(await connectRefused(t.url('ann'))).toBe(503);
    await vi.waitFor(() => expect(t.errors.length).toBeGreaterThan(0), ioWait);
    expect(`${t.errors[0]?.code}: ${t.errors[0]?.message}`).toBe(
      'WSSUP_STORE_UNAVAILABLE: slot store: admit failed: the book is read-only',
    );
  });

  // onError's type narrows by code (an AppHookError for WSSUP_APP_HOOK_FAILED, with its `hook`): a
  // store's own SupervisorError with that code is not one, and reaches onError as the store's failure.
  it('admit: a plain SupervisorError with a subclass code is reported as the store failing, with it as cause', async () => {
    const store = new MemoryBook(() => Date.now()).store('mislabelled', 3_000);
    const thrown = new SupervisorError('WSSUP_APP_HOOK_FAILED', 'the book says a hook failed');
    store.admit = async () => {
      throw thrown;
    };
    const t = await startServer({ cluster: { store, nodeId: 'mislabelled', onStoreUnavailable: 'reject' } });
    await t.supervisor.ready({ signal: AbortSignal.timeout(5_000) });
    expect(await connectRefused(t.url('ann'))).toBe(503);
    await vi.waitFor(() => expect(t.errors.length).toBeGreaterThan(0), ioWait);
    expect(`${t.errors[0]?.code}: ${t.errors[0]?.message}`).toBe(
      'WSSUP_STORE_UNAVAILABLE: slot store: admit failed: the book says a hook failed',
    );
    expect(t.errors[0]?.cause).toBe(thrown);
    expect(t.errors.filter((error) => error.code === 'WSSUP_APP_HOOK_FAILED')).toEqual([]);
  });

  it('admit: an answer out of contract names the method and what it should answer, once', async () => {
    const store = new MemoryBook(() => Date.now()).store('bad-admit', 3_000);
    // A store of the app's own, untyped at run time: `evict` left out of an admission.
    store.admit = async () => ({ admitted: true, live: 1 }) as never;
    const t = await startServer({ cluster: { store, nodeId: 'bad-admit', onStoreUnavailable: 'reject' } });
    await t.supervisor.ready({ signal: AbortSignal.timeout(5_000) });
    expect(await connectRefused(t.url('ann'))).toBe(503);
    expect(await connectRefused(t.url('bob'))).toBe(503);
    await vi.waitFor(() => expect(t.errors.length).toBeGreaterThanOrEqual(3), ioWait);
    const reported = t.errors.map((error) => `${error.code}: ${error.message}`);
    expect(reported.filter((line) => line.startsWith('WSSUP_INVALID_OPTION'))).toEqual([
      "WSSUP_INVALID_OPTION: Invalid option \"cluster.store\": expected its admit() to answer { admitted: true, evict: [EvictionOrder…], live } or { admitted: false, reason: 'user-limit' | 'duplicate-connection', live, evict? }, received an object.",
    ]);
    expect(reported).toContain(
      'WSSUP_STORE_UNAVAILABLE: slot store: admit answered an object, out of its contract: whether it booked the connection is unknown',
    );
  });

  it('admit: an order with a cause this version does not know is out of contract (not taken for an idle one)', async () => {
    const store = new MemoryBook(() => Date.now()).store('bad-cause', 3_000);
    const order = { connectionId: 'c9', nodeId: 'bad-cause', incarnation: 1, cause: 'Superseded' };
    store.admit = async () => ({ admitted: true, live: 1, evict: [order] }) as never;
    const t = await startServer({ cluster: { store, nodeId: 'bad-cause', onStoreUnavailable: 'reject' } });
    await t.supervisor.ready({ signal: AbortSignal.timeout(5_000) });
    expect(await connectRefused(t.url('ann'))).toBe(503);
    await vi.waitFor(() => expect(t.errors.length).toBeGreaterThanOrEqual(2), ioWait);
    const reported = t.errors.map((error) => `${error.code}: ${error.message}`);
    expect(reported.filter((line) => line.startsWith('WSSUP_INVALID_OPTION'))).toHaveLength(1);
  });
});
