/**
 * What the lean core promises a user (issue 10), on real sockets:
 *   - a message on a live connection takes no interpreter step, yet idleness
 *     is still exact (the idle delay reads the activity clock when it fires);
 *   - `activity: 'inbound'` lets a connection that only receives pushes go idle;
 *   - stats() and userStats() already reflect an event inside its listener;
 *   - a user's supervisor lingers for a reconnect, bounded by lingerMs, and
 *     shutdown ends it;
 *   - audit() agrees with the books after every kind of ending.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { InspectionEvent } from 'xstate';
import type { UserStats } from '../../src/index.js';
import { closeOf, evictAt, idleTimeoutMs, nextEvent, startRulesServer, touch } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks } from '../helpers/server.js';

/** Connection-actor events seen through the inspect hook, by type. */
function connectionEvents() {
  const seen: string[] = [];
  const inspect = (event: InspectionEvent) => {
    if (event.type !== '@xstate.event') return;
    const logic = (event.actorRef as { logic?: { id?: string } }).logic;
    if (logic?.id === 'connection') seen.push(event.event.type);
  };
  return { seen, inspect };
}

describe('the per-message path', () => {
  it('takes no step of any actor for messages on a live connection, either way', async () => {
    const { seen, inspect } = connectionEvents();
    const t = await startRulesServer({ inspect });
    const { ws } = await t.open('mia');
    const before = seen.length;
    for (let i = 0; i < 50; i++) await touch(ws); // 50 messages in, 50 echoes out
    expect(seen.slice(before)).toEqual([]);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('counts those messages as activity: the idle delay re-arms for the time left', async () => {
    const t = await startRulesServer();
    const { ws } = await t.open('ned');
    t.clock.increment(idleTimeoutMs - 100);
    await touch(ws); // activity 100 ms before the idle delay fires
    t.clock.increment(100); // the delay fires: not quiet for a whole idleTimeoutMs yet
    expect(t.supervisor.userStats('ned')).toMatchObject({ live: 1, idle: 0 });
    t.clock.increment(idleTimeoutMs - 101);
    expect(t.supervisor.userStats('ned')).toMatchObject({ idle: 0 });
    t.clock.increment(1); // exactly idleTimeoutMs after the message
    expect(t.supervisor.userStats('ned')).toMatchObject({ live: 1, idle: 1 });
    expect(t.supervisor.stats()).toMatchObject({ idle: 1, byState: { active: 1 } });
    // A message on an idle connection is the edge back to live.
    await touch(ws);
    expect(t.supervisor.userStats('ned')).toMatchObject({ live: 1, idle: 0 });
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('activity', () => {
  /** A server that pushes to the client every 100 ms of simulated time while the client stays silent. */
  async function pushedButSilent(activity: 'both' | 'inbound') {
    const t = await startRulesServer({ activity });
    const client = await t.open('pia');
    for (let elapsed = 0; elapsed < 2 * idleTimeoutMs; elapsed += 100) {
      expect(client.handle.send('news')).toBe(true);
      t.clock.increment(100);
    }
    const book = t.supervisor.userStats('pia');
    client.ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    return book;
  }

  it("'both' (the default): the server's pushes keep the connection live", async () => {
    expect(await pushedButSilent('both')).toMatchObject({ live: 1, idle: 0 });
  });

  it("'inbound': only the client's messages count, so a silent client goes idle", async () => {
    expect(await pushedButSilent('inbound')).toMatchObject({ live: 1, idle: 1 });
  });

  it("'inbound': a client message still makes the connection live again", async () => {
    const t = await startRulesServer({ activity: 'inbound' });
    const { ws } = await t.open('quin');
    t.clock.increment(idleTimeoutMs);
    expect(t.supervisor.userStats('quin')).toMatchObject({ idle: 1 });
    await touch(ws);
    expect(t.supervisor.userStats('quin')).toMatchObject({ idle: 0 });
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('listeners see the books after the event', () => {
  it('admitted, evicted and disposed each read the state they announce', async () => {
    const t = await startRulesServer();
    const seen: Record<string, Array<UserStats | undefined>> = { admitted: [], evicted: [], disposed: [] };
    const totals: Array<{ connections: number; draining: number }> = [];
    t.supervisor.on('admitted', ({ userId }) => seen.admitted?.push(t.supervisor.userStats(userId)));
    t.supervisor.on('evicted', ({ userId }) => {
      seen.evicted?.push(t.supervisor.userStats(userId));
      const stats = t.supervisor.stats();
      totals.push({ connections: stats.connections, draining: stats.byState.draining });
    });
    t.supervisor.on('disposed', ({ userId }) => seen.disposed?.push(t.supervisor.userStats(userId)));

    const clients = [];
    for (let i = 0; i < evictAt - 1; i++) clients.push(await t.open('rae'));
    // Inside `admitted`: the newcomer is already counted.
    expect(seen.admitted?.map((book) => book?.live)).toEqual([1, 2, 3]);
    t.clock.increment(idleTimeoutMs); // all three idle, below T
    const evicted = nextEvent(t.supervisor, 'evicted');
    const newcomer = await t.open('rae'); // n would reach T: the longest idle goes
    await evicted;
    // Inside `evicted`: the victim is already draining, no longer idle or live
    // (the newcomer is counted next, inside its own `admitted`).
    expect(seen.evicted).toEqual([expect.objectContaining({ live: 2, idle: 2, draining: 1 })]);
    expect(totals).toEqual([{ connections: 3, draining: 1 }]);
    expect(seen.admitted?.at(-1)).toMatchObject({ live: 3, idle: 2, draining: 1 });
    const [first] = clients;
    if (first === undefined) throw new Error('unreachable');
    expect((await closeOf(first.ws)).code).toBe(4001);
    for (const client of [...clients.slice(1), newcomer]) client.ws.close();
    await allDisposed(t.supervisor);
    // Inside `disposed`: that connection's slot is already free.
    expect(seen.disposed?.map((book) => (book === undefined ? 0 : book.live + book.draining))).toEqual([
      3, 2, 1, 0,
    ]);
    expectNoLeaks(t.supervisor);
  });
});

describe("the disposed listener of a user's last connection, with lingerMs 0", () => {
  type Inside = { users: number; resources: Record<string, number>; mismatches: string[] };
  /** stats() and audit() as the `disposed` listener reads them. */
  function watchDisposed(t: Awaited<ReturnType<typeof startRulesServer>>) {
    const inside: Inside[] = [];
    t.supervisor.on('disposed', () => {
      const { users, resources } = t.supervisor.stats();
      const { userSupervisors, lingeringSupervisors, connectionActors } = resources;
      inside.push({
        users,
        resources: { userSupervisors, lingeringSupervisors, connectionActors },
        mismatches: t.supervisor.audit().mismatches,
      });
    });
    return inside;
  }
  const nothingHeld: Inside = {
    users: 0,
    resources: { userSupervisors: 0, lingeringSupervisors: 0, connectionActors: 0 },
    mismatches: [],
  };

  // The step that disposes the last connection also ends the supervisor (no linger): the
  // listener used to count it, as a lingering one, until that step was over.
  it('sees the user supervisor gone, as the step that announces it ends it', async () => {
    const t = await startRulesServer({ lingerMs: 0 });
    const inside = watchDisposed(t);
    const { ws } = await t.open('lou');
    ws.close();
    await allDisposed(t.supervisor);
    expect(inside).toEqual([nothingHeld]);
    expectNoLeaks(t.supervisor);
  });

  it('and so does the last one a shutdown ends', async () => {
    const t = await startRulesServer({ lingerMs: 60_000 });
    const inside = watchDisposed(t);
    await t.open('sam');
    await t.supervisor.shutdown();
    expect(inside).toEqual([nothingHeld]);
    expectNoLeaks(t.supervisor);
  });
});

describe('lingering user supervisors', () => {
  it('outlive the last connection by lingerMs, serve a reconnect, then end', async () => {
    const created: string[] = [];
    const t = await startRulesServer({
      lingerMs: 2_000,
      inspect: (event) => {
        const logic = (event.actorRef as { logic?: { id?: string } }).logic;
        if (event.type === '@xstate.actor' && logic?.id === 'userSupervisor') created.push('supervisor');
      },
    });
    const first = await t.open('sol');
    first.ws.close();
    await allDisposed(t.supervisor);
    expect(t.supervisor.userStats('sol')).toBeUndefined();
    expect(t.supervisor.stats()).toMatchObject({
      users: 0,
      resources: { userSupervisors: 1, lingeringSupervisors: 1, connectionActors: 0, pendingTimers: 1 },
    });
    // A reconnect within the linger finds the same supervisor.
    t.clock.increment(1_999);
    const second = await t.open('sol');
    expect(created).toEqual(['supervisor']);
    expect(t.supervisor.stats().resources).toMatchObject({ userSupervisors: 1, lingeringSupervisors: 0 });
    second.ws.close();
    await allDisposed(t.supervisor);
    t.clock.increment(1_999);
    expect(t.supervisor.stats().resources.lingeringSupervisors).toBe(1);
    t.clock.increment(1); // lingerMs after the last connection
    expect(t.supervisor.audit().mismatches).toEqual([]);
    expectNoLeaks(t.supervisor);
  });

  it('end at once on shutdown', async () => {
    const t = await startRulesServer({ lingerMs: 60_000 });
    const { ws } = await t.open('tia');
    ws.close();
    await allDisposed(t.supervisor);
    expect(t.supervisor.stats().resources.lingeringSupervisors).toBe(1);
    await t.supervisor.shutdown();
    expectNoLeaks(t.supervisor);
  });
});

describe('audit()', () => {
  it('agrees with the books while connections come, idle, drain and go', async () => {
    const t = await startRulesServer();
    const expectAgreement = () => expect(t.supervisor.audit()).toMatchObject({ ok: true, mismatches: [] });
    const a = await t.open('uma');
    const b = await t.open('uma');
    expectAgreement();
    t.clock.increment(idleTimeoutMs);
    expectAgreement();
    expect(t.supervisor.audit().walked).toEqual({ userSupervisors: 1, connectionActors: 2 });
    a.handle.close(4000, 'bye');
    expectAgreement();
    b.ws.terminate();
    await allDisposed(t.supervisor);
    expectAgreement();
    expectNoLeaks(t.supervisor);
  });
});

// The README ("Running several processes"): without the cluster option nothing changes and no
// Redis client is loaded. A resolve hook in a child process refuses `redis`: a supervisor without
// `cluster` serves a real socket all the same, and one with it hits the hook (the hook works).
describe('redis, loaded only in cluster mode', () => {
  const program = (cluster: boolean) => `
    import { register } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(
      "export async function resolve(specifier, context, next) {" +
      " if (specifier === 'redis' || specifier.startsWith('@redis/')) throw new Error('redis was loaded');" +
      " return next(specifier, context); }"));
    const { createServer } = await import('node:http');
    const { once } = await import('node:events');
    const { default: WebSocket } = await import('ws');
    const { createSupervisor } = await import(${JSON.stringify(new URL('../../dist/src/index.js', import.meta.url).href)});
    const errors = [];
    const supervisor = createSupervisor({
      preset: 'test',
      authenticate: () => 'ann',
      onMessage: (connection, data) => connection.send(data),
      onError: (error) => errors.push(String(error.cause ?? error)),
      ${cluster ? "cluster: { redis: 'redis://127.0.0.1:1', onStoreUnavailable: 'local' }," : ''}
    });
    const server = createServer();
    supervisor.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const ws = new WebSocket('ws://127.0.0.1:' + server.address().port + '/');
    await once(ws, 'open');
    ws.send('hello');
    const [echo] = await once(ws, 'message');
    for (let i = 0; i < 100 && ${cluster} && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    ws.close();
    await supervisor.shutdown({ deadlineMs: 200 });
    server.close();
    console.log(JSON.stringify({ echo: String(echo), errors }));
  `;
  const run = async (cluster: boolean) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', program(cluster)], {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    const [code] = (await once(child, 'close')) as [number]; // after the pipes ended, not just the exit
    expect(code, err).toBe(0);
    return JSON.parse(out.trim().split('\n').at(-1) ?? '') as { echo: string; errors: string[] };
  };

  it('a supervisor without `cluster` never resolves redis, and serves', async () => {
    if (!existsSync(new URL('../../dist/src/index.js', import.meta.url))) {
      throw new Error('dist/ is missing: run "npm run build" first (npm test does)');
    }
    expect(await run(false)).toEqual({ echo: 'hello', errors: [] });
    const withCluster = await run(true);
    expect(withCluster.echo).toBe('hello');
    expect(withCluster.errors.join('\n')).toMatch(/redis was loaded/);
  });
});
