/**
 * What the docs say of a Redis that is down when the process starts (the README's `store`
 * event under *Failure modes*, docs/cluster-store.md "The breaker and outage policies"):
 * the first failed start opens the store-wide breaker, told by the `store` event
 * `{ breaker: 'open' }`, and admissions follow `onStoreUnavailable` from then on ('reject':
 * 503 with `Retry-After: 1`, not ready; 'local': admitted unsynced). It opened only after
 * three failed starts, one a third of `leaseTtlMs` apart: some 10 s with the defaults, all
 * of which 'reject' already refused every upgrade (and `/readyz` said so) while the breaker
 * said `closed` and no event came.
 *
 * Nothing listens on the Redis port (a free one). The process's clock is simulated and never
 * advanced, so the lease's retry of the start (a third of the lease, 5 s) never comes: what
 * is seen follows from the first failed start alone.
 */
import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import {
  createSupervisor,
  type RejectedEvent,
  type StoreEvent,
  type StoreUnavailablePolicy,
  type SupervisorError,
} from '../../src/index.js';
import { freePort } from '../helpers/redis-server.js';
import { httpRefusal } from '../helpers/refusals.js';
import { closeServer, connect, ioWait, listenOnLoopback, userFromQuery } from '../helpers/server.js';

/** A supervisor whose `store` events are heard from its creation on (before any I/O). */
async function startDownAtStart(policy: StoreUnavailablePolicy) {
  const redisPort = await freePort();
  const errors: SupervisorError[] = [];
  const supervisor = createSupervisor({
    preset: 'test',
    clock: new SimulatedClock(),
    idleTimeoutMs: 1_000_000_000,
    authenticate: userFromQuery,
    onError: (error) => void errors.push(error),
    // The defaults otherwise: a lease of 15 s, retried every 5 s.
    cluster: { redis: `redis://127.0.0.1:${redisPort}`, nodeId: 'down-at-start', onStoreUnavailable: policy },
  });
  const events: StoreEvent[] = [];
  supervisor.on('store', (event) => void events.push(event));
  const rejected: RejectedEvent[] = [];
  supervisor.on('rejected', (event) => void rejected.push(event));
  const server = createServer((_request, response) => response.end('ok'));
  supervisor.attach(server);
  const port = await listenOnLoopback(server);
  onTestFinished(async () => {
    await supervisor.shutdown({ deadlineMs: 200 });
    await closeServer(server);
  });
  return {
    supervisor,
    errors,
    events,
    rejected,
    url: (user: string) => `ws://127.0.0.1:${port}/?user=${user}`,
  };
}

describe('docs: a Redis down when the process starts', () => {
  it.each(['reject', 'local'] as const)(
    "'%s': the first failed start opens the breaker (the store event), and admissions follow the policy",
    async (policy) => {
      const node = await startDownAtStart(policy);
      await vi.waitFor(() => expect(node.errors).toHaveLength(1), ioWait);
      expect(node.errors[0]?.code).toBe('WSSUP_STORE_UNAVAILABLE');
      expect(node.errors[0]?.message).toMatch(/connect ECONNREFUSED/);
      // Told at once, not two lease retries (10 s with the defaults) later.
      expect(node.events).toEqual([{ breaker: 'open', nodeId: 'down-at-start', policy }]);
      expect(node.supervisor.stats().cluster).toMatchObject({ leaseHeld: false, breaker: 'open' });

      if (policy === 'reject') {
        const refusal = await httpRefusal(node.url('ann'));
        expect(refusal.status).toBe(503);
        expect(refusal.headers['retry-after']).toBe('1');
        expect(node.rejected.map((event) => event.reason)).toEqual(['store-unavailable']);
        expect(node.supervisor.stats().admission).toEqual({ admitting: false, reason: 'store-unavailable' });
      } else {
        const ws = await connect(node.url('ann'));
        expect(ws.readyState).toBe(WebSocket.OPEN);
        expect(node.supervisor.stats().cluster?.unsynced).toBe(1);
        expect(node.supervisor.stats().admission).toEqual({ admitting: true, reason: null });
      }
      // The store event said it once: refused calls are not reported one by one.
      expect(node.events).toHaveLength(1);
      expect(node.errors).toHaveLength(1);
    },
  );
});
