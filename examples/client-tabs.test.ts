/**
 * ws-supervisor/client in a web app whose users keep many tabs open (docs/client.md, "Many tabs").
 * Each tab is a client, its instance id kept in the tab's sessionStorage so that a reload is
 * the same instance. A duplicated tab copies sessionStorage, the id too: its client replaces
 * the original tab's connection (4001 `evicted: superseded`), and the original tab, suspended,
 * starts over with an id of its own (the region docs/client.md quotes, checked by
 * test/examples/readme-snippets.test.ts). Then what else the section says: a tab refused at
 * the limit (4429) waits, `activity()` does nothing there and `resume()` tries at once, before
 * the server's hint; a `url` function whose token fetch fails is an `error` event (hook `url`)
 * and a 1006 with no `cause`. Real servers on port 0, the server and the clients on one
 * SimulatedClock; a Map stands in for each tab's sessionStorage.
 *
 *   npx vitest run examples/client-tabs.test.ts   (after npm run build)
 *
 * It imports `ws-supervisor` by name, as your code will: here that resolves to this package's
 * dist/, so build first (as `npm test` does).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { createSupervisor, type SupervisorOptions } from 'ws-supervisor';
import { type Client, createClient } from 'ws-supervisor/client';
import { SimulatedClock } from 'xstate';

/** A tab's sessionStorage, as much of it as the recipe uses. */
interface TabStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}
const storage = (entries: Iterable<[string, string]> = []) => {
  const map = new Map(entries);
  const tab: TabStorage & { entries(): [string, string][] } = {
    getItem: (key) => map.get(key) ?? null,
    setItem: (key, value) => void map.set(key, value),
    removeItem: (key) => void map.delete(key),
    entries: () => [...map],
  };
  return tab;
};

/** A supervisor on a real server, every connection user `ann`, on a SimulatedClock. */
async function server(options: Partial<SupervisorOptions> = {}) {
  const clock = new SimulatedClock();
  const supervisor = createSupervisor({ clock, authenticate: () => ({ userId: 'ann' }), ...options });
  const http = createServer();
  supervisor.attach(http);
  // The TCP connections, for a network blip that drops them all (drop()).
  const sockets = new Set<Socket>();
  http.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  onTestFinished(async () => {
    const stopped = supervisor.shutdown();
    clock.increment(supervisor.options.drainTimeoutMs);
    await stopped;
    await new Promise((resolve) => http.close(resolve));
  });
  const drop = () => {
    for (const socket of sockets) socket.destroy();
  };
  return { clock, supervisor, drop, url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/` };
}

const closeAtEnd = (client: Client) =>
  onTestFinished(() => {
    client.close();
    return client.closed;
  });

it('a duplicated tab copies the instance id: the original tab, superseded, starts over with an id of its own', async () => {
  const { clock, supervisor, drop, url } = await server();
  const signal = AbortSignal.timeout(10_000);

  /** A tab: its page's script, run once per page load with the tab's sessionStorage. */
  function openTab(sessionStorage: TabStorage) {
    // #region duplicated-tab
    // The instance id, kept in the tab's sessionStorage: a reload replaces the tab's last connection.
    let client = connect();
    function connect(): Client {
      const next = createClient({
        url,
        instance: sessionStorage.getItem('ws-instance') ?? undefined, // none kept: a fresh one is drawn
        WebSocket, // ws's (Node 20 has no global one; a page needs no such line)
        clock, // a test's SimulatedClock (leave it out in an app)
      });
      if (next.instance) sessionStorage.setItem('ws-instance', next.instance);
      next.on('close', ({ reason }) => {
        if (reason !== 'evicted: superseded') return;
        // A duplicate of this tab (sessionStorage copied, the id too) took over the connection.
        // resume() would evict it in turn: start over as a new instance, with an id of its own.
        next.close();
        sessionStorage.removeItem('ws-instance');
        client = connect();
      });
      return next;
    }
    // #endregion duplicated-tab
    return {
      get client() {
        return client;
      },
    };
  }

  const originalStorage = storage();
  const original = openTab(originalStorage);
  closeAtEnd(original.client);
  await original.client.once('open', { signal });
  const id = original.client.instance;
  expect(originalStorage.entries()).toEqual([['ws-instance', id]]);
  const first = original.client;

  // Duplicate the tab: its sessionStorage is a copy, id included.
  const evicted = supervisor.once('evicted', { signal });
  const admittedAgain = supervisor.once('admitted', { signal });
  const duplicateStorage = storage(originalStorage.entries());
  const duplicate = openTab(duplicateStorage);
  closeAtEnd(duplicate.client);
  await duplicate.client.once('open', { signal });
  await admittedAgain;
  expect(duplicate.client.instance).toBe(id);
  expect(await evicted).toMatchObject({ userId: 'ann', cause: 'superseded' });

  // The original tab's first client heard 4001 `evicted: superseded`, closed, and its successor
  // connects as a new instance: both tabs hold a slot, under ids of their own.
  // The recipe's close() of the superseded client: bounded, so that a recipe that never closes
  // it fails here, by this assertion, rather than at the test's timeout.
  const closedInTime = await Promise.race([
    first.closed.then(() => true),
    new Promise<false>((resolve) => signal.addEventListener('abort', () => resolve(false), { once: true })),
  ]);
  expect(closedInTime, 'the superseded client closed').toBe(true);
  expect(first.lastClose).toMatchObject({ code: 4001, kind: 'evicted', reason: 'evicted: superseded' });
  expect(first.state).toBe('closed');
  const successor = original.client;
  expect(successor).not.toBe(first);
  closeAtEnd(successor);
  if (successor.state !== 'open') await successor.once('open', { signal });
  expect(successor.instance).not.toBe(id);
  expect(originalStorage.entries()).toEqual([['ws-instance', successor.instance]]);
  expect(duplicateStorage.entries()).toEqual([['ws-instance', id]]);
  expect(supervisor.userStats('ann')).toMatchObject({ live: 2 });

  // No ping-pong: a network blip drops both tabs' sockets, and each reconnects under its own id
  // without evicting the other (two tabs still sharing an id would supersede each other here).
  expect(duplicate.client.lastClose).toBeUndefined();
  const evictions: unknown[] = [];
  supervisor.on('evicted', (event) => evictions.push(event));
  const tabs = [successor, duplicate.client];
  const backingOff = tabs.map((client) => client.once('reconnecting', { signal }));
  drop();
  const delays = (await Promise.all(backingOff)).map(({ delayMs }) => delayMs);
  await vi.waitFor(() => expect(supervisor.userStats('ann')?.live ?? 0).toBe(0), { timeout: 10_000 });
  const reopened = tabs.map((client) => client.once('open', { signal }));
  clock.increment(Math.max(...delays));
  await Promise.all(reopened);
  expect(evictions).toEqual([]);
  expect(tabs.map((client) => [client.state, client.instance])).toEqual([
    ['open', successor.instance],
    ['open', id],
  ]);
  expect(supervisor.userStats('ann')).toMatchObject({ live: 2 });
});

it('a tab refused at the limit (4429) waits: activity() does nothing there, resume() tries at once, before the hint', async () => {
  const { clock, supervisor, url } = await server({ maxConnectionsPerUser: 1, refuse: 'close' });
  const signal = AbortSignal.timeout(10_000);
  const holder = createClient({ url, WebSocket, clock });
  closeAtEnd(holder);
  await holder.once('open', { signal });

  const tab = createClient({ url, WebSocket, clock });
  closeAtEnd(tab);
  // #region refused-tab
  // What a refused tab tells its user, by the server's reason (`refusal`: the limit, or with
  // `admissionRate` connecting too often; both are kind 'too-many-requests'), and when it tries
  // again on its own. The `reason` text is for logs. A "Retry now" button calls tab.resume().
  let banner = '';
  tab.on('close', ({ kind, refusal, retryAfterMs }) => {
    if (kind !== 'too-many-requests') return;
    const seconds = Math.ceil((retryAfterMs ?? 0) / 1_000);
    const why =
      refusal === 'user-limit'
        ? 'you are connected in too many tabs. Close one, or wait'
        : refusal === 'rate-limited'
          ? 'connecting too often. Wait'
          : 'the server is busy. Wait'; // an app's Refusal(429), an older server: undefined
    banner = `Not connected: ${why}: retrying in ${seconds} s.`;
  });
  // #endregion refused-tab
  const backingOff = tab.once('reconnecting', { signal });
  const refused = await tab.once('close', { signal });
  expect(refused).toMatchObject({
    code: 4429,
    kind: 'too-many-requests',
    refusal: 'user-limit',
    reason: 'user has reached the maximum number of connections (1)',
    next: 'reconnect',
  });
  expect(banner).toBe(
    'Not connected: you are connected in too many tabs. Close one, or wait: retrying in 5 s.',
  );
  expect(refused.retryAfterMs).toBeGreaterThan(0);
  // It waits the hint at least (plus the jitter).
  expect((await backingOff).delayMs).toBeGreaterThanOrEqual(refused.retryAfterMs ?? Number.NaN);
  expect(tab.state).toBe('waiting');

  // A click: activity() is for 4001 only; nothing happens.
  const steps: string[] = [];
  tab.on('reconnecting', ({ delayMs: ms }) => steps.push(`reconnecting ${ms}`));
  tab.on('state', ({ state }) => steps.push(state));
  tab.activity();
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(steps).toEqual([]);
  expect(tab.state).toBe('waiting');

  // "Retry now": resume() cuts the wait, the server's hint too.
  tab.resume();
  expect(steps).toEqual(['reconnecting 0']); // no `state` event: waiting still, for 0 ms
  clock.increment(0);
  // Still at the limit: refused again, and waiting again.
  expect(await tab.once('close', { signal })).toMatchObject({ code: 4429 });
  expect(tab.state).toBe('waiting');
  expect(supervisor.userStats('ann')).toMatchObject({ live: 1 });
});

it('a url function whose token fetch fails: an error event with hook url, and a 1006 with no cause', async () => {
  const { clock, url } = await server();
  const signal = AbortSignal.timeout(10_000);
  let down = true;
  const fetchToken = async () => {
    if (down) throw new TypeError('Failed to fetch'); // fetch() with the network down
    return 'token';
  };
  const client = createClient({ url: async () => `${url}?token=${await fetchToken()}`, WebSocket, clock });
  closeAtEnd(client);
  const reported: unknown[] = [];
  const tracked: unknown[] = [];
  client.on('error', ({ error }) => {
    reported.push(error);
    // Keep the token fetch's failures out of the error tracker; report the rest.
    if (error.code === 'WSSUP_APP_HOOK_FAILED' && error.hook === 'url' && error.cause instanceof TypeError)
      return;
    tracked.push(error);
  });
  const backingOff = client.once('reconnecting', { signal });
  const closed = await client.once('close', { signal });
  expect(closed).toMatchObject({ code: 1006, kind: 'abnormal', next: 'reconnect', opened: false });
  expect(closed.reason).toBe('cannot connect: Failed to fetch');
  expect(closed).not.toHaveProperty('cause');
  expect(reported).toHaveLength(1);
  expect(reported[0]).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'url' });
  expect((reported[0] as Error).cause).toBeInstanceOf(TypeError);
  expect(tracked).toEqual([]);

  // The network back: the next attempt (after the backoff) fetches and connects.
  down = false;
  const { delayMs, attempt } = await backingOff;
  expect(attempt).toBe(1);
  clock.increment(delayMs);
  await client.once('open', { signal });
});
