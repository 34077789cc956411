/**
 * Typed errors from another copy of ws-supervisor (two versions in node_modules,
 * or a bundled copy beside the package): an app's own cluster.store built against
 * that copy throws its SlotStoreUnavailableError. The cluster book tested them with
 * `instanceof SupervisorError` only, so it wrapped a store's typed error in a new
 * one: a failed read rejected with "the slot store failed to answer" (and a
 * WSSUP_SHUTTING_DOWN became WSSUP_STORE_UNAVAILABLE), and a failed admission or
 * stop was reported as "slot store: admit failed" instead of the store's own error.
 */
import { describe, expect, it } from 'vitest';
import {
  AppHookError,
  InvalidOptionError,
  SlotStoreUnavailableError,
  SupervisorError,
} from '../../src/index.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';
import { loadSecondCopy } from '../helpers/second-copy.js';

describe('a SupervisorError from another copy of ws-supervisor', () => {
  it('passes instanceof for its own class and its bases, both ways, and for no other class', async () => {
    const other = await loadSecondCopy();
    expect(other.SupervisorError).not.toBe(SupervisorError);

    const outage = new other.SlotStoreUnavailableError('redis away');
    expect(outage instanceof SlotStoreUnavailableError).toBe(true);
    expect(outage instanceof SupervisorError).toBe(true);
    expect(outage instanceof InvalidOptionError).toBe(false);
    expect(new SlotStoreUnavailableError('redis away') instanceof other.SlotStoreUnavailableError).toBe(true);
    expect(new SlotStoreUnavailableError('redis away') instanceof other.SupervisorError).toBe(true);

    // The same code is not the same class: only a SlotStoreUnavailableError is one.
    const plain = new other.SupervisorError('WSSUP_STORE_UNAVAILABLE', 'plain');
    expect(plain instanceof SupervisorError).toBe(true);
    expect(plain instanceof SlotStoreUnavailableError).toBe(false);
    expect(new SupervisorError('WSSUP_STORE_UNAVAILABLE', 'plain') instanceof SlotStoreUnavailableError).toBe(
      false,
    );
    expect(new SupervisorError('WSSUP_INTERNAL', 'x') instanceof other.SlotStoreUnavailableError).toBe(false);
    const option = new other.InvalidOptionError('limit', 'a number', 'x');
    expect(option instanceof InvalidOptionError).toBe(true);
    expect(option instanceof AppHookError).toBe(false);

    // An app's own subclass keeps the ordinary check: another copy's errors are not of it.
    class PaymentError extends SupervisorError {}
    expect(new PaymentError('WSSUP_INTERNAL', 'x') instanceof SupervisorError).toBe(true);
    expect(new other.SupervisorError('WSSUP_INTERNAL', 'x') instanceof PaymentError).toBe(false);
    expect(new SupervisorError('WSSUP_INTERNAL', 'x') instanceof PaymentError).toBe(false);

    // A look-alike without the mark is not one.
    const lookAlike = Object.assign(new Error('x'), {
      name: 'SlotStoreUnavailableError',
      code: 'WSSUP_STORE_UNAVAILABLE',
    });
    expect(lookAlike instanceof SupervisorError).toBe(false);
    expect(lookAlike instanceof SlotStoreUnavailableError).toBe(false);
    expect(Object.create(null) instanceof SupervisorError).toBe(false);
    expect((null as unknown as object) instanceof SupervisorError).toBe(false);
  });

  it("from an app's store, is what a cluster-wide read rejects with, code and all", async () => {
    const other = await loadSecondCopy();
    const { store, cluster, leaseTaken } = bookOnMemoryStore();
    await expect.poll(leaseTaken).toBe(true);
    const outage = new other.SlotStoreUnavailableError('redis away');
    store.view = () => Promise.reject(outage);
    await expect(cluster.view()).rejects.toBe(outage);
    const closing = new other.SupervisorError('WSSUP_SHUTTING_DOWN', 'the store is closing');
    store.userBook = () => Promise.reject(closing);
    await expect(cluster.userBook('ann')).rejects.toBe(closing);
    await cluster.stop();
  });

  it("from an app's store, is what onError is told when an admission, a reaper pass or the store's stop fails", async () => {
    const other = await loadSecondCopy();
    const { store, cluster, clock, reported, leaseTaken } = bookOnMemoryStore();
    await expect.poll(leaseTaken).toBe(true);
    const admitFailed = new other.SlotStoreUnavailableError('admit: no answer within 1000 ms');
    store.admit = () => Promise.reject(admitFailed);
    await expect(cluster.reserve('ann', 'c1')).resolves.toEqual({ outcome: 'unsynced' });
    const reapFailed = new other.SlotStoreUnavailableError('reap: connection reset');
    store.reap = () => Promise.reject(reapFailed);
    clock.increment(10_000); // the reaper's interval (the renewal's is 20 s)
    await expect.poll(() => reported.length).toBe(2);
    const stopFailed = new other.SlotStoreUnavailableError('stop: connection reset');
    store.stop = () => Promise.reject(stopFailed);
    await cluster.stop();
    expect(reported).toHaveLength(3);
    expect(reported[0]).toBe(admitFailed);
    expect(reported[1]).toBe(reapFailed);
    expect(reported[2]).toBe(stopFailed);
  });

  // instanceof now reads the value (the mark, under a Symbol.for key), not its prototype chain
  // alone: a rejection that throws when read (a "strict" Proxy, as some libraries wrap their
  // errors in) made instanceof throw, from inside the book's rejection handlers.
  it("is not what instanceof says of a value that throws when a property is read; that value is reported as the store's failure", async () => {
    const strict = new Proxy(new Error('db away'), {
      get(target, key) {
        if (!(key in target)) throw new TypeError(`no property ${String(key)}`);
        return Reflect.get(target, key);
      },
    });
    expect(strict instanceof SupervisorError).toBe(false);
    expect(strict instanceof SlotStoreUnavailableError).toBe(false);

    const { store, cluster, reported, leaseTaken } = bookOnMemoryStore();
    await expect.poll(leaseTaken).toBe(true);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const reservation = await cluster.reserve('ann', 'c1');
      cluster.admitted('ann', 'c1', reservation);
      store.release = () => Promise.reject(strict);
      cluster.released('ann', 'c1');
      await expect.poll(() => reported.length).toBe(1);
      expect(reported[0]?.code).toBe('WSSUP_STORE_UNAVAILABLE');
      expect(reported[0]?.cause === strict).toBe(true); // not toBe: a matcher reads the Proxy's members
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await cluster.stop();
    }
  });
});
