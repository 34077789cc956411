/**
 * The store's breakers and another server's answer (SlotStoreServerMovedError): Redis
 * answered, from a server the node has not renewed on (a failover in progress), and
 * wrote nothing. That is no outage, so no breaker counts it; a half-open breaker whose
 * trial call ends so closes (the close renews at once, which moves the node there).
 * Counted as failures, a few such answers opened the breaker, and the renewal that would
 * have moved the node was then refused by it: the node stayed on no server.
 */
import { BrokenCircuitError, CircuitState } from 'cockatiel';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { SlotStoreServerMovedError, SlotStoreUnavailableError } from '../../src/cluster/slot-store.js';
import { HALF_OPEN_AFTER_MS, newPolicy } from '../../src/cluster/store-breakers.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const moved = () => Promise.reject(new SlotStoreServerMovedError('another server answers'));
const down = () => Promise.reject(new SlotStoreUnavailableError('no answer within 300 ms'));

it('answers from another server never open a breaker', async () => {
  const policy = newPolicy();
  for (let i = 0; i < 10; i++) {
    await expect(policy.execute(moved)).rejects.toBeInstanceOf(SlotStoreServerMovedError);
  }
  expect(policy.state).toBe(CircuitState.Closed);
  await expect(policy.execute(async () => 'ok')).resolves.toBe('ok');
});

it('a half-open trial answered by another server closes the breaker: Redis answers', async () => {
  const policy = newPolicy();
  for (let i = 0; i < 3; i++)
    await expect(policy.execute(down)).rejects.toBeInstanceOf(SlotStoreUnavailableError);
  expect(policy.state).toBe(CircuitState.Open);
  await expect(policy.execute(async () => 'refused')).rejects.toBeInstanceOf(BrokenCircuitError);
  vi.advanceTimersByTime(HALF_OPEN_AFTER_MS);
  await expect(policy.execute(moved)).rejects.toBeInstanceOf(SlotStoreServerMovedError);
  expect(policy.state).toBe(CircuitState.Closed);
});

it('is still a WSSUP_STORE_UNAVAILABLE for the outage policy', () => {
  const error = new SlotStoreServerMovedError('another server answers');
  expect(error).toBeInstanceOf(SlotStoreUnavailableError);
  expect(error.code).toBe('WSSUP_STORE_UNAVAILABLE');
});
