/**
 * Several tenants and plans in one supervisor: per-plan limits from `authenticate`, the option
 * set to the lowest plan's limit, tenant-scoped user ids, a `tenant:<t>` room per tenant, a
 * suspended tenant refused with a `Refusal` that names its user, a downgrade applied at once,
 * and a constant label on this process's metrics. docs/admission.md ("Several tenants and plans")
 * quotes the regions below (test/examples/readme-snippets.test.ts); vitest runs them against a
 * real server on port 0, with plain `ws` sockets and ws-supervisor/client.
 *
 * It imports `ws-supervisor` by name, as your code will: here that resolves to this package's
 * dist/, so build first (as `npm test` does).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { createSupervisor, Refusal, type RejectedEvent } from 'ws-supervisor';
import { createClient } from 'ws-supervisor/client';
import { registerMetrics } from 'ws-supervisor/metrics';
import { SimulatedClock } from 'xstate';

type Plan = 'starter' | 'team' | 'enterprise';
interface Session {
  tenant: string;
  user: string;
  plan: Plan;
}

it('per-plan limits, tenant rooms, a refusal that names its user, a downgrade at once, a shard label', async () => {
  // Your session store: here a token names a session, and a tenant may be suspended.
  const sessions = new Map<string, Session>([
    ['t-ann', { tenant: 'acme', user: 'ann', plan: 'team' }],
    ['t-cy', { tenant: 'acme', user: 'cy', plan: 'Team' as Plan }], // a typo in the plans table
    ['t-bob', { tenant: 'globex', user: 'bob', plan: 'enterprise' }],
  ]);
  const suspended = new Set<string>(['globex']);
  const sessionOf = async (request: { url?: string | undefined }) =>
    sessions.get(new URLSearchParams(request.url?.split('?')[1]).get('token') ?? '');

  // #region tenants
  const plans: Record<Plan, number> = { starter: 2, team: 10, enterprise: 50 };

  const supervisor = createSupervisor<{ tenant: string; plan: Plan }>({
    // The lowest plan's limit: a result without one (a plan lookup that gave undefined) gets it.
    maxConnectionsPerUser: plans.starter,
    authenticate: async (request) => {
      const session = await sessionOf(request);
      if (session === undefined) return null; // 401
      const userId = `${session.tenant}:${session.user}`; // tenant-scoped: acme's ann is not globex's
      if (suspended.has(session.tenant)) throw new Refusal(403, 'tenant suspended', { userId });
      const data = { tenant: session.tenant, plan: session.plan };
      return { userId, maxConnectionsPerUser: plans[session.plan], data };
    },
    onOpen: (connection) => connection.join(`tenant:${connection.data?.tenant}`),
  });

  // The whole tenant: send to its room, or close its members (4403: the client stays away).
  const announce = (tenant: string, text: string) => supervisor.sendToRoom(`tenant:${tenant}`, text);
  const closeTenant = (tenant: string) => {
    for (const member of supervisor.roomMembers(`tenant:${tenant}`)) member.close(4403, 'tenant suspended');
  };
  // #endregion tenants

  // #region downgrade
  // A downgrade applies at the user's next admission. To apply it at once, close the newest
  // connections over the new limit with a code the client backs off from, and a hint.
  function applyDowngrade(userId: string, limit: number): number {
    const excess = supervisor.connectionsOf(userId).slice(limit); // oldest first: the newest go
    for (const connection of excess) connection.close(4429, 'plan limit lowered retry-after=30');
    return excess.length;
  }
  // #endregion downgrade

  // #region shard-label
  const registry = new Registry();
  registry.setDefaultLabels({ shard: '2' }); // prom-client's own: on every series of this registry
  registerMetrics(supervisor, { registry });
  // #endregion shard-label

  const rejected: RejectedEvent[] = [];
  supervisor.on('rejected', (event) => rejected.push(event));
  const server = createServer();
  supervisor.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    await supervisor.shutdown({ deadlineMs: 200 });
    await new Promise((resolve) => server.close(resolve));
  });
  const url = (token: string) => `ws://127.0.0.1:${(server.address() as AddressInfo).port}/?token=${token}`;
  const open = async (token: string) => {
    const socket = new WebSocket(url(token));
    onTestFinished(() => socket.terminate());
    await once(socket, 'open');
    return socket;
  };

  // Per-plan limits, and the option for a result without one.
  const annFirst = await open('t-ann');
  await open('t-ann');
  expect(supervisor.userStats('acme:ann')?.limit).toBe(10);
  await open('t-cy');
  expect(supervisor.userStats('acme:cy')?.limit).toBe(2); // plans['Team'] is undefined: the option's

  // The tenant's room: every connection of its users.
  const members = supervisor.roomMembers('tenant:acme').map((connection) => connection.userId);
  expect(members).toEqual(['acme:ann', 'acme:ann', 'acme:cy']);
  expect(announce('acme', 'maintenance at 22:00')).toBe(3);

  // A suspended tenant: refused with 403, and the rejected event says whom.
  const refused = new WebSocket(url('t-bob'));
  const [, response] = await once(refused, 'unexpected-response');
  expect(response.statusCode).toBe(403);
  expect(rejected).toEqual([
    expect.objectContaining({
      reason: 'refused',
      status: 403,
      userId: 'globex:bob',
      message: 'tenant suspended',
    }),
  ]);

  // A downgrade: the user's limit stays 10 until the next admission; applied at once, the newest
  // connection (the client's) is closed with 4429 and its hint, and the client backs off 30 s.
  // The client's delays on a simulated clock: its 30 s wait is moved through, not waited.
  const clock = new SimulatedClock();
  const client = createClient({ url: url('t-ann'), WebSocket, random: () => 0, clock });
  onTestFinished(() => {
    client.close();
    return client.closed;
  });
  await client.once('open', { signal: AbortSignal.timeout(10_000) });
  const closed = client.once('close', { signal: AbortSignal.timeout(10_000) });
  const waiting = client.once('reconnecting', { signal: AbortSignal.timeout(10_000) });
  (sessions.get('t-ann') as Session).plan = 'starter';
  expect(supervisor.userStats('acme:ann')).toMatchObject({ live: 3, limit: 10 });
  expect(applyDowngrade('acme:ann', plans.starter)).toBe(1);
  expect(await closed).toMatchObject({ code: 4429, kind: 'too-many-requests', retryAfterMs: 30_000 });
  expect(await waiting).toMatchObject({ delayMs: 30_000 }); // the hint, plus 0 of jitter here
  expect(client.state).toBe('waiting');

  // 30 s later it comes back, and is admitted against the new limit (2), or refused with 429
  // and backed off while the user is at it: here ann still holds two connections.
  const refusedAgain = client.once('close', { signal: AbortSignal.timeout(10_000) });
  const backingOff = client.once('reconnecting', { signal: AbortSignal.timeout(10_000) });
  clock.increment(30_000);
  expect(await refusedAgain).toMatchObject({ code: 4429, kind: 'too-many-requests', retryAfterMs: 5_000 });
  expect(rejected.at(-1)).toMatchObject({ reason: 'user-limit', userId: 'acme:ann', status: 429, limit: 2 });
  const { delayMs } = await backingOff;
  // One of ann's connections goes: at the next attempt, admitted under the starter plan's limit.
  annFirst.close();
  await expect.poll(() => supervisor.userStats('acme:ann')?.live).toBe(1);
  const admitted = client.once('open', { signal: AbortSignal.timeout(10_000) });
  clock.increment(delayMs);
  await admitted;
  expect(supervisor.userStats('acme:ann')).toMatchObject({ live: 2, limit: 2 });

  // The whole tenant closed.
  closeTenant('acme');
  await expect.poll(() => supervisor.stats().users).toBe(0);

  // A constant label on every series, never a user's.
  const text = await registry.metrics();
  expect(text).toContain('ws_supervisor_users{shard="2"} 0');
  expect(text).toMatch(/ws_supervisor_rejected_total\{reason="refused",status="403",shard="2"\} 1/);
  expect(text).not.toContain('acme');
});
