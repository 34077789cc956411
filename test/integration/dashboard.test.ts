/**
 * ws-supervisor/dashboard mounted by an app (issue 11, item 8): a request
 * handler on the app's own plain http server, under a path of its own,
 * passing what is not its own to `next`, timed by an injected clock, and
 * leaving nothing behind once closed. Bad options are refused before
 * anything is allocated. (The reference server, Express and Chromium mount
 * it too: test/examples/, test/browser/.)
 */
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as netConnect } from 'node:net';
import Fastify from 'fastify';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import {
  type Activity,
  createDashboard,
  type Dashboard,
  type DashboardOptions,
  type StatsView,
  tokenAuthorizer,
} from '../../src/dashboard/index.js';
import { type Supervisor, SupervisorError } from '../../src/index.js';
import { openEvents } from '../helpers/event-stream.js';
import { pendingDelays } from '../helpers/fake-transport.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { idleTimeoutMs, limit, nextEvent, refusal, startRulesServer } from '../helpers/rules.js';
import {
  allDisposed,
  closeServer,
  connect,
  expectNoLeaks,
  ioWait,
  listenOnLoopback,
} from '../helpers/server.js';

type Next = (error?: unknown) => void;

/** The app: a plain http server that mounts `dashboard` and answers the rest itself. */
async function mount(dashboard: Dashboard, { withNext }: { withNext: boolean }) {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const appRoute = () => void response.end('the app\n');
    if (withNext) dashboard(request, response, appRoute as Next);
    else dashboard(request, response);
  });
  const port = await listenOnLoopback(server);
  onTestFinished(() => closeServer(server));
  return `http://127.0.0.1:${port}`;
}

/**
 * A dashboard stream whose client stopped reading, and whose buffers (the kernel's and the
 * response's own) are full: a raw HTTP client reads the head and the snapshot, then never again.
 * keepAliveMs is 5 s, on `dashboardClock`.
 */
async function stalledStream() {
  const t = await startRulesServer();
  const dashboardClock = new SimulatedClock();
  const users = Array.from({ length: 100 }, (_, i) => `${String(i).padStart(3, '0')}-${'u'.repeat(124)}`);
  const dashboard = createDashboard(t.supervisor, {
    authorize: () => true,
    clock: dashboardClock,
    maxStreams: 1,
    pollMs: 1_000,
    batchMs: 10,
    keepAliveMs: 5_000,
    // Every message carries a row per user: a few dozen of them fill the socket's buffers.
    maxUsers: users.length,
    trackedUsers: users.length,
  });
  onTestFinished(() => dashboard.close());
  const responses: ServerResponse[] = [];
  const server = createServer((request, response) => {
    responses.push(response);
    dashboard(request, response);
  });
  const port = await listenOnLoopback(server);
  onTestFinished(() => closeServer(server));
  for (const user of users) await t.open(user);

  const socket = netConnect(port, '127.0.0.1');
  onTestFinished(() => void socket.destroy());
  socket.write('GET /dashboard/events HTTP/1.1\r\nHost: localhost\r\n\r\n');
  let received = '';
  await new Promise<void>((resolve) => {
    const read = (chunk: string) => {
      received += chunk;
      if (!received.includes('event: snapshot')) return;
      socket.off('data', read).pause();
      resolve();
    };
    socket.setEncoding('utf8').on('data', read);
  });
  const stream = responses.at(-1) as ServerResponse;
  // The client reads nothing, so it would not see the end: watch the server's side of the socket.
  const closed = once(stream.socket as NonNullable<ServerResponse['socket']>, 'close');
  expect(dashboard.resources()).toEqual({ streams: 1, subscribers: 1 });

  // Connections come and go: each burst writes the counts, with every user's row, until
  // the kernel's buffers are full and the response's own one too.
  let cycles = 0;
  while (!stream.writableNeedDrain) {
    if (cycles++ > 2_000) throw new Error(`the stream never filled: ${stream.writableLength} bytes buffered`);
    const { ws } = await t.open(users[0] as string);
    dashboardClock.increment(10);
    ws.close();
    await nextEvent(t.supervisor, 'disposed');
    dashboardClock.increment(10);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { dashboard, dashboardClock, server, port, stream, socket, closed };
}

describe('createDashboard, mounted by an app', () => {
  it('serves its page and events under basePath, on the injected clock, and close() frees everything', async () => {
    const t = await startRulesServer();
    const dashboardClock = new SimulatedClock();
    const dashboard = createDashboard(t.supervisor, {
      authorize: () => true,
      basePath: '/ops/live',
      clock: dashboardClock,
      pollMs: 1_000,
      batchMs: 20,
    });
    onTestFinished(() => dashboard.close());
    const base = await mount(dashboard, { withNext: true });

    const page = await fetch(`${base}/ops/live/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'sha256-/);
    expect(await page.text()).toContain("new EventSource(base + '/events' + location.search)");
    expect(await (await fetch(`${base}/elsewhere`)).text()).toBe('the app\n');
    expect((await fetch(`${base}/ops/live/nowhere`)).status).toBe(404); // under basePath: the dashboard's 404
    expect((await fetch(`${base}/ops/live/cluster`)).status).toBe(404); // not in cluster mode

    const events = await openEvents(`${base}/ops/live/events`);
    expect(events.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    await events.until(/event: snapshot/);
    expect(dashboard.resources()).toEqual({ streams: 1, subscribers: 1 });
    expect(pendingDelays(dashboardClock)).toBe(1); // the poll

    const { ws } = await t.open('ola');
    // The admission opened a batch window; nothing is sent until the dashboard's clock says so.
    expect(pendingDelays(dashboardClock)).toBe(2);
    expect(events.text()).not.toMatch(/event: activity/);
    dashboardClock.increment(20);
    await events.until(/event: activity\ndata: \{[^\n]*"kind":"admitted"[^\n]*"userId":"ola"/);
    await events.until(/event: stats/);
    expect(events.last<StatsView>('stats')).toMatchObject({
      connections: 1,
      users: 1,
      perUser: [{ userId: 'ola', live: 1, idle: 0 }],
    });

    // The counts move without an event (idle): the poll reads them.
    t.clock.increment(1_000); // the supervisor's idle timeout (test preset)
    dashboardClock.increment(1_000);
    await vi.waitFor(
      () => expect(events.last<StatsView>('stats').states['active.activity.idle']).toBe(1),
      ioWait,
    );

    dashboard.close();
    await events.ended;
    expect(dashboard.resources()).toEqual({ streams: 0, subscribers: 0 });
    expect(pendingDelays(dashboardClock)).toBe(0);
    expect((await fetch(`${base}/ops/live`)).status).toBe(503);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it("in cluster mode, shows this node's place in the cluster: node id, incarnation, lease and breaker", async () => {
    const clock = new SimulatedClock();
    const book = new MemoryBook(() => clock.now());
    const store = book.store('node-a', 3_000);
    const t = await startRulesServer({ clock, cluster: { store, nodeId: 'node-a', leaseTtlMs: 3_000 } });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    const dashboardClock = new SimulatedClock();
    // The time it tells can be set back, as Date.now() can be (an NTP step): a SimulatedClock's cannot.
    let setBack = 0;
    const steppedClock = {
      setTimeout: dashboardClock.setTimeout.bind(dashboardClock),
      clearTimeout: dashboardClock.clearTimeout.bind(dashboardClock),
      now: () => dashboardClock.now() - setBack,
    };
    // authorize sees every request: how the test knows that they all reached the dashboard.
    let clusterRequests = 0;
    const dashboard = createDashboard(t.supervisor, {
      clock: steppedClock,
      authorize: (request) => {
        if (request.url?.endsWith('/cluster')) clusterRequests += 1;
        return true;
      },
    });
    onTestFinished(() => dashboard.close());
    const base = await mount(dashboard, { withNext: false });
    const events = await openEvents(`${base}/dashboard/events`);
    await events.until(/event: snapshot/);
    const snapshot = events.last<{ stats: StatsView }>('snapshot');
    expect(snapshot.stats.cluster).toEqual({
      nodeId: 'node-a',
      incarnation: store.incarnation,
      leaseHeld: true,
      breaker: 'closed',
      unavailableShards: [],
      unsynced: 0,
    });
    expect(store.incarnation).toBeGreaterThan(0);

    // GET <base>/cluster: every node with a lease, and the shown users' cluster-wide books.
    const { ws } = await t.open('ola');
    await vi.waitFor(() => expect(book.users.get('ola')?.size).toBe(1), ioWait);
    // Ten pages asking at once share one read of the store (the view is held until all ten are in).
    const reads = () => ({ view: book.calls.view ?? 0, userBook: book.calls.userBook ?? 0 });
    const before = reads();
    const readView = store.view;
    /** Holds the store's view() until the returned function is called: the read stays in flight. */
    const holdReads = () => {
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      store.view = async function (this: typeof store) {
        await held;
        return readView.call(this);
      };
      return () => {
        release();
        store.view = readView;
      };
    };
    const release = holdReads();
    const pages = Array.from({ length: 10 }, () => fetch(`${base}/dashboard/cluster`));
    await vi.waitFor(() => expect(clusterRequests).toBe(10), ioWait);
    release();
    const answers = await Promise.all(pages);
    const texts = await Promise.all(answers.map((answer) => answer.text()));
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(200));
    expect(new Set(texts).size).toBe(1);
    expect(reads()).toEqual({ view: before.view + 1, userBook: before.userBook + 1 });
    const firstReadAt = dashboardClock.now();
    expect(JSON.parse(texts[0] as string)).toMatchObject({
      readAt: firstReadAt,
      nodes: [{ nodeId: 'node-a', incarnation: store.incarnation }],
      users: 1,
      connections: 1,
      perUser: [{ userId: 'ola', live: 1, idle: 0, byNode: { 'node-a': 1 } }],
    });
    // Asked again within the page's poll period (5 s on the dashboard's clock): the same view, no read.
    dashboardClock.increment(4_999);
    const again = await fetch(`${base}/dashboard/cluster`);
    expect([again.status, await again.text()]).toEqual([200, texts[0]]);
    expect(reads()).toEqual({ view: before.view + 1, userBook: before.userBook + 1 });
    // Once the period is over: a new read, and the answer says when it was made.
    dashboardClock.increment(1);
    const later = await fetch(`${base}/dashboard/cluster`);
    expect(later.status).toBe(200);
    expect(await later.json()).toMatchObject({ readAt: firstReadAt + 5_000, users: 1 });
    expect(reads()).toEqual({ view: before.view + 2, userBook: before.userBook + 2 });
    // The store away: 503 with the reason, and the page says so.
    dashboardClock.increment(5_000);
    store.partitioned = true;
    const away = await fetch(`${base}/dashboard/cluster`);
    expect(away.status).toBe(503);
    expect(await away.text()).toMatch(/cluster-wide book is unavailable/);
    store.partitioned = false;
    // A failed read is not kept: the next request, at the same time, reads the store again.
    const back = await fetch(`${base}/dashboard/cluster`);
    expect(back.status).toBe(200);
    expect(await back.json()).toMatchObject({ readAt: firstReadAt + 10_000, users: 1, connections: 1 });
    expect(reads().view).toBe(before.view + 4);
    // A read that outlasts the period is still shared: reads never overlap.
    const releaseSlow = holdReads();
    dashboardClock.increment(5_000);
    const first = fetch(`${base}/dashboard/cluster`);
    await vi.waitFor(() => expect(clusterRequests).toBe(15), ioWait);
    dashboardClock.increment(6_000);
    const second = fetch(`${base}/dashboard/cluster`);
    await vi.waitFor(() => expect(clusterRequests).toBe(16), ioWait);
    releaseSlow();
    const slowTexts = await Promise.all([first, second].map(async (answer) => (await answer).text()));
    expect(slowTexts[1]).toBe(slowTexts[0]);
    expect(JSON.parse(slowTexts[0] as string)).toMatchObject({ readAt: firstReadAt + 15_000 });
    expect(reads().view).toBe(before.view + 5);
    // The clock set back a minute: the view is not served for that minute, it is read again.
    setBack = 60_000;
    const stepped = await fetch(`${base}/dashboard/cluster`);
    expect(await stepped.json()).toMatchObject({ readAt: dashboardClock.now() - 60_000, users: 1 });
    expect(reads().view).toBe(before.view + 6);
    setBack = 0;
    ws.close();
    await allDisposed(t.supervisor);

    // A Redis Cluster master away (a book of two failure domains, one down): the poll names it.
    book.shards = { of: (userId) => (userId === 'ola' ? 'A' : 'B'), all: () => ['A', 'B'] };
    book.downShards.add('A');
    const unsynced = [];
    for (let i = 0; i < 3; i++) unsynced.push((await t.open('ola')).ws);
    await vi.waitFor(() => {
      dashboardClock.increment(1_000);
      expect(events.last<StatsView>('stats').cluster).toMatchObject({
        breaker: 'closed',
        unavailableShards: ['A'],
        unsynced: 3,
      });
    }, ioWait);
    // The Cluster card still answers: what was read, and what was not (ola's book, on A).
    book.downShards.delete('A');
    await vi.waitFor(() => {
      clock.increment(1_000); // a renewal: it books the outage's connections
      expect(book.users.get('ola')?.size).toBe(3);
    }, ioWait);
    const bea = await t.open('bea');
    book.downShards.add('A');
    dashboardClock.increment(5_000); // the view read before the outage is not served again
    const partial = await fetch(`${base}/dashboard/cluster`);
    expect(partial.status).toBe(200);
    expect(await partial.json()).toMatchObject({
      users: 1,
      connections: 1,
      unread: { nodes: 0, users: 1 },
      perUser: [{ userId: 'bea', live: 1 }],
      perUserUnread: 1,
    });
    book.downShards.delete('A');
    bea.ws.close();
    for (const socket of unsynced) socket.close();
    await allDisposed(t.supervisor);

    dashboard.close();
    await events.ended;
    await t.supervisor.shutdown();
  });

  it('in cluster mode, the Cluster card reads the books of the users on the bars (a review: it read the least recently active)', async () => {
    const clock = new SimulatedClock();
    const book = new MemoryBook(() => clock.now());
    const store = book.store('node-a', 3_000);
    const t = await startRulesServer({ clock, cluster: { store, nodeId: 'node-a', leaseTtlMs: 3_000 } });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    const dashboard = createDashboard(t.supervisor, {
      authorize: () => true,
      maxUsers: 1,
      trackedUsers: 2,
      clock: new SimulatedClock(),
    });
    onTestFinished(() => dashboard.close());
    const base = await mount(dashboard, { withNext: false });
    // whale at 5 of 5, then ann at 1, then whale refused: the tracked users, least recently
    // active first, are ann and whale; the one bar is whale's.
    const clients = [];
    for (let i = 0; i < limit; i++) clients.push((await t.open('whale')).ws);
    clients.push((await t.open('ann')).ws);
    expect((await refusal(t.url('whale'))).status).toBe(429);
    await vi.waitFor(() => {
      expect(book.users.get('whale')?.size).toBe(limit);
      expect(book.users.get('ann')?.size).toBe(1);
    }, ioWait);
    const events = await openEvents(`${base}/dashboard/events`);
    await events.until(/event: snapshot/);
    const bars = events.last<{ stats: StatsView }>('snapshot').stats.perUser.map((bar) => bar.userId);
    expect(bars).toEqual(['whale']);
    const card = (await (await fetch(`${base}/dashboard/cluster`)).json()) as {
      perUser: Array<{ userId: string; live: number }>;
    };
    expect(card.perUser.map((user) => user.userId)).toEqual(bars);
    expect(card.perUser[0]?.live).toBe(limit);
    for (const ws of clients) ws.close();
    await allDisposed(t.supervisor);
    dashboard.close();
    await events.ended;
    await t.supervisor.shutdown();
  });

  it("in cluster mode, lists the store's breaker opening and closing and the node's new incarnation, under the node's id", async () => {
    const clock = new SimulatedClock();
    const book = new MemoryBook(() => clock.now());
    const leaseTtlMs = 3_000;
    const store = book.store('node-a', leaseTtlMs);
    const t = await startRulesServer({
      clock,
      cluster: { store, nodeId: 'node-a', leaseTtlMs, onStoreUnavailable: 'local' },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    const dashboard = createDashboard(t.supervisor, { authorize: () => true });
    onTestFinished(() => dashboard.close());
    const base = await mount(dashboard, { withNext: false });
    const events = await openEvents(`${base}/dashboard/events`);
    await events.until(/event: snapshot/);
    const activities = () =>
      [...events.text().matchAll(/event: activity\ndata: (.*)\n\n/g)]
        .map((match) => JSON.parse(match[1] as string) as Activity)
        .filter((activity) => activity.kind === 'store' || activity.kind === 'incarnation');
    const first = store.incarnation;

    // The store away: admissions fail until the breaker opens (admitted locally, as the policy says).
    book.down = true;
    const held = [];
    while (t.supervisor.stats().cluster?.breaker !== 'open') held.push((await t.open('ola')).ws);
    await vi.waitFor(() => expect(activities()).toHaveLength(1), ioWait);
    // Back: the breaker lets a call through a second of real time after it opened (an
    // admission's here, so that the simulated clock stands still and the lease runs on).
    book.down = false;
    await vi.waitFor(
      async () => {
        held.push((await t.open(`probe-${held.length}`)).ws);
        expect(activities()).toHaveLength(2);
      },
      { timeout: 5_000, interval: 250 },
    );
    // A failover: the node takes a new incarnation.
    store.failedOver = true;
    await vi.waitFor(() => {
      clock.increment(leaseTtlMs / 3);
      expect(activities()).toHaveLength(3);
    }, ioWait);
    expect(store.incarnation).not.toBe(first);
    expect(activities()).toMatchObject([
      { kind: 'store', userId: null, nodeId: 'node-a', breaker: 'open', policy: 'local' },
      { kind: 'store', userId: null, nodeId: 'node-a', breaker: 'closed', policy: 'local' },
      {
        kind: 'incarnation',
        userId: null,
        nodeId: 'node-a',
        incarnation: store.incarnation,
        previous: first,
        cause: 'failover',
      },
    ]);
    // The store-wide breaker: no master named.
    expect(activities().map((activity) => 'shard' in activity)).toEqual([false, false, false]);
    // A page opened later gets them in its snapshot, as the other events.
    const later = await openEvents(`${base}/dashboard/events`);
    await later.until(/event: snapshot/);
    expect(
      later
        .last<{ activity: Activity[] }>('snapshot')
        .activity.filter((activity) => activity.kind === 'store' || activity.kind === 'incarnation'),
    ).toEqual(activities());
    // The page draws them: a tag of their own, the node where the user goes.
    const page = await (await fetch(`${base}/dashboard`)).text();
    expect(page).toContain('.act[data-kind="store"] .tag');
    expect(page).toContain('.act[data-kind="incarnation"] .tag');

    for (const ws of held) ws.close();
    await allDisposed(t.supervisor);
    dashboard.close();
    await Promise.all([events.ended, later.ended]);
    await t.supervisor.shutdown();
  });

  it('lists each eviction with its cause, idle, superseded or over the limit (found by a review: every line read "idle")', async () => {
    const evictions = (text: string) =>
      [...text.matchAll(/event: activity\ndata: (.*)\n\n/g)]
        .map((match) => JSON.parse(match[1] as string) as Activity)
        .filter((activity) => activity.kind === 'evicted')
        .map(({ userId, evictionCause }) => ({ userId, evictionCause }));

    // One process: an idle connection at T, and a connection its client instance replaced.
    const t = await startRulesServer();
    const dashboard = createDashboard(t.supervisor, { authorize: () => true });
    onTestFinished(() => dashboard.close());
    const events = await openEvents(`${await mount(dashboard, { withNext: false })}/dashboard/events`);
    await events.until(/event: snapshot/);
    for (let i = 0; i < 3; i++) await t.open('ida');
    t.clock.increment(idleTimeoutMs);
    await t.open('ida');
    for (let i = 0; i < limit - 1; i++) await t.open('sue');
    const instance = (attempt: number) =>
      `${t.url('sue')}&wssup-instance=instance-aaaaaaaaaaaaaaaa.${attempt}`;
    await connect(instance(1));
    await connect(instance(2));
    await vi.waitFor(() => expect(evictions(events.text())).toHaveLength(2), ioWait);
    expect(evictions(events.text())).toEqual([
      { userId: 'ida', evictionCause: 'idle' },
      { userId: 'sue', evictionCause: 'superseded' },
    ]);

    // Two processes on one book: one of dan's here, five there while the store was away.
    const clock = new SimulatedClock();
    const book = new MemoryBook(() => clock.now());
    const leaseTtlMs = 60_000;
    const node = (nodeId: string) =>
      startRulesServer({
        clock,
        idleTimeoutMs: 1_000_000_000,
        cluster: { store: book.store(nodeId, leaseTtlMs), nodeId, leaseTtlMs, onStoreUnavailable: 'local' },
      });
    const [here, there] = [await node('node-here'), await node('node-there')];
    for (const n of [here, there]) await n.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const clustered = createDashboard(here.supervisor, { authorize: () => true });
    onTestFinished(() => clustered.close());
    const clusteredBase = await mount(clustered, { withNext: false });
    const stream = await openEvents(`${clusteredBase}/dashboard/events`);
    await stream.until(/event: snapshot/);
    await there.open('dan');
    book.down = true;
    for (let i = 0; i < limit; i++) await here.open('dan');
    book.down = false;
    await vi.waitFor(
      () => {
        clock.increment(leaseTtlMs / 3);
        expect(evictions(stream.text())).toHaveLength(1);
      },
      { timeout: 5_000, interval: 250 },
    );
    expect(evictions(stream.text())).toEqual([{ userId: 'dan', evictionCause: 'over-limit' }]);
    // The page prints each as the close reason its client read.
    const page = await (await fetch(`${clusteredBase}/dashboard`)).text();
    for (const reason of ['evicted: idle', 'evicted: over the limit', 'evicted: superseded']) {
      expect(page).toContain(JSON.stringify(reason));
    }
    expect(page).not.toContain('idle, close 4001');

    dashboard.close();
    clustered.close();
    await Promise.all([events.ended, stream.ended]);
  });

  it('without next, answers 404 outside basePath; any method but GET and HEAD is 405', async () => {
    const t = await startRulesServer();
    const dashboard = createDashboard(t.supervisor, { authorize: () => true });
    onTestFinished(() => dashboard.close());
    const base = await mount(dashboard, { withNext: false });
    expect(dashboard.basePath).toBe('/dashboard');
    expect((await fetch(`${base}/dashboard`)).status).toBe(200);
    expect((await fetch(`${base}/elsewhere`)).status).toBe(404);
    const post = await fetch(`${base}/dashboard/events`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    const head = await fetch(`${base}/dashboard`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-type'), await head.text()]).toEqual([
      200,
      'text/html; charset=utf-8',
      '',
    ]);
  });

  // What is served to a browser (every route is behind authorize): nothing an intermediary
  // may keep, nothing a browser may sniff as HTML, and nothing reached by a path trick.
  it('answers no-store and nosniff on every route, a CSP on the page and the chart; no path trick reaches a route, none crashes', async () => {
    const t = await startRulesServer();
    const dashboard = createDashboard(t.supervisor, { authorize: tokenAuthorizer('test-token-0123456789') });
    onTestFinished(() => dashboard.close());
    const base = await mount(dashboard, { withNext: false });
    const { port } = new URL(base);
    /** One request with its target as written: fetch() would resolve `..` and `%2e%2e` first. */
    const raw = async (path: string, headers: Record<string, string> = {}) => {
      const request = httpRequest({ host: '127.0.0.1', port, path, headers });
      onTestFinished(() => void request.destroy());
      request.end();
      const [response] = (await once(request, 'response')) as [IncomingMessage];
      response.destroy(); // an event stream never ends
      return response;
    };
    const bearer = { authorization: 'Bearer test-token-0123456789' };

    for (const path of ['/dashboard', '/dashboard/', '/dashboard/chart.svg', '/dashboard/events']) {
      for (const [headers, status] of [
        [{}, 401],
        [{ authorization: 'Bearer wrong' }, 403],
        [bearer, 200],
      ] as const) {
        const { statusCode, headers: got } = await raw(path, headers);
        expect([path, statusCode, got['cache-control'], got['x-content-type-options']]).toEqual([
          path,
          status,
          'no-store',
          'nosniff',
        ]);
      }
    }
    const page = await raw('/dashboard', bearer);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toMatch(/^default-src 'none'; script-src 'sha256-/);
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['content-security-policy']).toMatch(/; frame-ancestors 'none'(;|$)/);
    // Opened on its own, an SVG is a document that could run script: this one may run nothing.
    const chart = await raw('/dashboard/chart.svg', bearer);
    expect(chart.headers['content-type']).toBe('image/svg+xml; charset=utf-8');
    expect(chart.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");

    for (const path of [
      '/dashboard/../dashboard/events',
      '/dashboard/%2e%2e/dashboard/events',
      '/dashboard/./events',
      '/dashboard//events',
      '//dashboard/events',
      '/dashboard/events/',
      '/dashboard/chart.svg/',
      '/dashboard%2Fevents',
      '/dashboard/events;x',
      '/dashboard/events%00',
      '/dashboard/%',
      '/DASHBOARD',
      '//[',
    ]) {
      for (const headers of [{}, bearer]) {
        const { statusCode } = await raw(path, headers);
        expect([path, statusCode]).toEqual([path, 404]);
      }
    }
    // A malformed or huge query is a query: the route's own answer, behind authorize.
    for (const [query, anonymous] of [
      ['?%zz%', 401],
      ['?token', 401],
      [`?x=${'a'.repeat(8_000)}`, 401],
      ['?token=%E0%A4%A', 403], // not UTF-8: decoded to something, and not the token
    ] as const) {
      expect((await raw(`/dashboard${query}`)).statusCode).toBe(anonymous);
      expect((await raw(`/dashboard${query}`, bearer)).statusCode).toBe(200);
    }
    await vi.waitFor(() => expect(dashboard.resources().streams).toBe(0), ioWait);
  });

  it('mounts on Fastify through reply.hijack()', async () => {
    const t = await startRulesServer();
    const dashboard = createDashboard(t.supervisor, { authorize: () => true, batchMs: 0 });
    onTestFinished(() => dashboard.close());
    const app = Fastify();
    const handler = (request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): void }) => {
      reply.hijack(); // the dashboard answers on the raw response, streams included
      dashboard(request.raw, reply.raw);
    };
    app.get('/dashboard', handler);
    app.get('/dashboard/*', handler);
    app.get('/', async () => 'the app');
    await app.listen({ port: 0, host: '127.0.0.1' });
    onTestFinished(() => app.close());
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

    expect((await fetch(`${base}/dashboard`)).status).toBe(200);
    expect(await (await fetch(`${base}/`)).text()).toBe('the app');
    const events = await openEvents(`${base}/dashboard/events`);
    await events.until(/event: snapshot/);
    const { ws } = await t.open('fay');
    await events.until(/event: activity\ndata: [^\n]*"userId":"fay"/);
    dashboard.close();
    await events.ended;
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('a burst longer than activityCapacity is sent as its last activityCapacity entries, as the snapshot holds', async () => {
    const t = await startRulesServer();
    const dashboardClock = new SimulatedClock();
    // A long batch window: every admission below falls into one burst.
    const dashboard = createDashboard(t.supervisor, {
      authorize: () => true,
      clock: dashboardClock,
      activityCapacity: 3,
      batchMs: 60_000,
      pollMs: 1_000_000,
    });
    onTestFinished(() => dashboard.close());
    const base = await mount(dashboard, { withNext: false });
    const events = await openEvents(`${base}/dashboard/events`);
    await events.until(/event: snapshot/);

    for (let i = 1; i <= 8; i += 1) await t.open(`burst${i}`);
    dashboardClock.increment(60_000);
    await events.until(/event: stats/);
    // The burst held (and wrote to every stream) only what the page can list: the newest entries.
    const sent = [...events.text().matchAll(/event: activity\ndata: (.*)\n\n/g)].map(
      ([, data]) => (JSON.parse(data as string) as { userId: string }).userId,
    );
    expect(sent).toEqual(['burst6', 'burst7', 'burst8']);
    dashboard.close();
    await events.ended;
  });

  // A snapshot larger than the socket's buffer (16 KiB) makes write() report a full buffer at
  // once. The stream then sent a fresh snapshot at every `drain`, which filled the buffer again:
  // snapshots back to back, for as long as the page was open, with nothing missed.
  it('a client that reads a snapshot larger than the buffer gets it once', async () => {
    const t = await startRulesServer();
    const dashboardClock = new SimulatedClock();
    const users = Array.from({ length: 100 }, (_, i) => `${String(i).padStart(3, '0')}-${'u'.repeat(124)}`);
    const dashboard = createDashboard(t.supervisor, {
      authorize: () => true,
      clock: dashboardClock,
      maxUsers: users.length,
      trackedUsers: users.length,
      pollMs: 1_000_000,
      batchMs: 10,
    });
    onTestFinished(() => dashboard.close());
    for (const user of users) await t.open(user);
    const base = await mount(dashboard, { withNext: false });
    const events = await openEvents(`${base}/dashboard/events`);
    await events.until(/event: snapshot\ndata: .*\n\n/);
    const snapshot = /event: snapshot\ndata: .*\n\n/.exec(events.text())?.[0] ?? '';
    expect(Buffer.byteLength(snapshot)).toBeGreaterThan(16 * 1024);

    // One more admission: its activity comes after whatever the stream wrote before it.
    await t.open('late');
    dashboardClock.increment(10);
    await events.until(/event: activity\ndata: [^\n]*"late"/);
    expect(events.text().match(/event: snapshot/g)).toHaveLength(1);
    dashboard.close();
    await events.ended;
  });

  it('streams beyond maxStreams get 503 and hold nothing', async () => {
    const t = await startRulesServer();
    const dashboard = createDashboard(t.supervisor, {
      maxStreams: 1,
      authorize: tokenAuthorizer('test-token-0123456789'),
    });
    onTestFinished(() => dashboard.close());
    const base = await mount(dashboard, { withNext: false });
    expect((await fetch(`${base}/dashboard/events`)).status).toBe(401);
    const first = await openEvents(`${base}/dashboard/events?token=test-token-0123456789`);
    await first.until(/event: snapshot/);
    const second = await fetch(`${base}/dashboard/events?token=test-token-0123456789`);
    expect(second.status).toBe(503);
    // A HEAD answers what that GET would: a probe must not read "200" from a full dashboard.
    const head = await fetch(`${base}/dashboard/events?token=test-token-0123456789`, { method: 'HEAD' });
    expect(head.status).toBe(503);
    expect(dashboard.resources()).toEqual({ streams: 1, subscribers: 1 });
    first.response.destroy();
    await vi.waitFor(() => expect(dashboard.resources()).toEqual({ streams: 0, subscribers: 0 }), ioWait);
  });

  // A client that opens the stream and stops reading (its TCP window full) used to keep its
  // place among maxStreams, and what was buffered for it, for as long as it stayed connected.
  it('a client that stops reading, and has not caught up within keepAliveMs, is dropped and frees its place', async () => {
    const { dashboard, dashboardClock, port, stream, closed } = await stalledStream();

    // Not caught up within keepAliveMs: dropped, its socket closed, its place free again.
    dashboardClock.increment(4_000);
    expect(dashboard.resources()).toEqual({ streams: 1, subscribers: 1 });
    dashboardClock.increment(1_000);
    expect(dashboard.resources()).toEqual({ streams: 0, subscribers: 0 });
    expect(pendingDelays(dashboardClock)).toBe(0);
    await closed;
    expect(stream.destroyed).toBe(true);
    const again = await openEvents(`http://127.0.0.1:${port}/dashboard/events`);
    await again.until(/event: snapshot/);
    dashboard.close();
    await again.ended;
  });

  // close() ended each stream, but a response's end() waits behind a full buffer: the socket of a
  // client that stopped reading stayed open, and the app's server.close() waited for it forever.
  it('close() releases the socket of a client that stopped reading within keepAliveMs: server.close() completes without closeAllConnections()', async () => {
    const { dashboard, dashboardClock, server, stream, closed } = await stalledStream();

    dashboard.close();
    expect(dashboard.resources()).toEqual({ streams: 0, subscribers: 0 });
    let serverClosed = false;
    const serverDone = new Promise<void>((resolve) =>
      server.close(() => {
        serverClosed = true;
        resolve();
      }),
    );
    // Graceful first: the client has keepAliveMs to read what was sent, and the end.
    dashboardClock.increment(4_999);
    expect(stream.destroyed).toBe(false);
    expect(pendingDelays(dashboardClock)).toBe(1);
    dashboardClock.increment(1);
    await closed;
    expect(stream.destroyed).toBe(true);
    await serverDone;
    expect(serverClosed).toBe(true);
    expect(pendingDelays(dashboardClock)).toBe(0);
    dashboard.close(); // idempotent
    expect(pendingDelays(dashboardClock)).toBe(0);
  });

  it('after close(), a slow client that catches up within keepAliveMs gets its end, and nothing is left scheduled', async () => {
    const { dashboard, dashboardClock, server, stream, socket } = await stalledStream();

    dashboard.close();
    expect(pendingDelays(dashboardClock)).toBe(1);
    const finished = once(stream, 'close');
    let received = '';
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.resume();
    // The last chunk of a chunked response: the end came through, nothing was cut. (The
    // connection itself stays open: keep-alive.)
    await vi.waitFor(() => expect(received).toMatch(/\r\n0\r\n\r\n$/), ioWait);
    await finished;
    expect(stream.destroyed).toBe(true); // closed, as every finished response is
    expect(stream.socket).toBeNull(); // handed back to the connection, not destroyed with it
    expect(socket.destroyed).toBe(false);
    expect(pendingDelays(dashboardClock)).toBe(0);
    socket.end();
    await new Promise((resolve) => server.close(resolve));
  });

  describe('bad options: WSSUP_INVALID_ARGUMENT, and nothing subscribed', () => {
    // Each table row is refused for its own fault, not for a missing authorize.
    const open = { authorize: () => true } as const;
    /** What createDashboard(supervisor, options) threw, and how many subscriptions it made first. */
    const attempt = (options: unknown) => {
      let subscriptions = 0;
      const supervisor = {
        on: () => {
          subscriptions += 1;
          return () => {};
        },
      } as unknown as Supervisor;
      try {
        // As a JavaScript caller would: the options unchecked by TypeScript.
        (createDashboard as (supervisor: Supervisor, options?: unknown) => unknown)(supervisor, options);
      } catch (error) {
        return { error, subscriptions };
      }
      return { error: undefined, subscriptions };
    };

    it.each<[string, DashboardOptions]>([
      ['a basePath without its leading slash', { ...open, basePath: 'dashboard' }],
      ['a basePath with a trailing slash', { ...open, basePath: '/dashboard/' }],
      ['a basePath with a query', { ...open, basePath: '/dashboard?x=1' }],
      ['the root as basePath', { ...open, basePath: '/' }],
      ['maxStreams of 0', { ...open, maxStreams: 0 }],
      ['a fractional pollMs', { ...open, pollMs: 0.5 }],
      ['a negative batchMs', { ...open, batchMs: -1 }],
      ['activityCapacity as a string', { ...open, activityCapacity: '50' as unknown as number }],
      [
        'authorize that is not a function',
        { authorize: 'secret' as unknown as DashboardOptions['authorize'] },
      ],
      // A typo or a null fell back to the default; a clock that is not one failed at the first stream.
      ['a misspelt option', { ...open, basepath: '/ops' } as DashboardOptions],
      ['a null basePath', { ...open, basePath: null } as unknown as DashboardOptions],
      ['a null maxStreams', { ...open, maxStreams: null } as unknown as DashboardOptions],
      ['a clock that is not one', { ...open, clock: 42 } as unknown as DashboardOptions],
      [
        'a clock without clearTimeout',
        { ...open, clock: { setTimeout: () => 0 } } as unknown as DashboardOptions,
      ],
    ])('%s', (_name, options) => {
      const { error, subscriptions } = attempt(options);
      expect(error).toBeInstanceOf(SupervisorError);
      expect(error).toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT' });
      expect((error as Error).message).not.toMatch(/authorize is required/);
      expect(subscriptions).toBe(0);
    });

    // No open default: a JavaScript caller that says nothing about access is told its three choices.
    it.each<[string, unknown]>([
      ['no options', undefined],
      ['options without authorize', {}],
      ['options with other settings only', { basePath: '/ops', pollMs: 100 }],
      ['authorize: undefined', { authorize: undefined }],
    ])('authorize missing (%s): says what to pass', (_name, options) => {
      const { error, subscriptions } = attempt(options);
      expect(error).toBeInstanceOf(SupervisorError);
      expect(error).toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT' });
      const { message } = error as Error;
      expect(message).toMatch(/authorize is required/);
      expect(message).toContain('tokenAuthorizer(secret)');
      expect(message).toContain('(request) => boolean | 401 | 403 | Promise<');
      expect(message).toContain('() => true');
      expect(subscriptions).toBe(0);
    });

    // A missing or wrong first argument failed with a TypeError, after subscribing to what it could.
    it.each<[string, unknown]>([
      ['no supervisor', undefined],
      ['null', null],
      ['a registry instead', { on: () => () => {} }],
      ['a supervisor without userStats', { on: () => () => {}, stats: () => ({}), options: {} }],
    ])('a first argument that is not a supervisor: %s', (_name, supervisor) => {
      let subscriptions = 0;
      const counted =
        supervisor === null || supervisor === undefined
          ? supervisor
          : {
              ...supervisor,
              on: () => {
                subscriptions += 1;
                return () => {};
              },
            };
      expect(() => createDashboard(counted as unknown as Supervisor, { authorize: () => true })).toThrow(
        expect.objectContaining({
          code: 'WSSUP_INVALID_ARGUMENT',
          message: expect.stringMatching(/supervisor/),
        }),
      );
      expect(subscriptions).toBe(0);
    });

    it('tokenAuthorizer refuses an empty token', () => {
      expect(() => tokenAuthorizer('')).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
    });

    // An attacker's-view trial: `WSSUP_DASHBOARD_TOKEN=a ws-supervisor serve --host 0.0.0.0` started
    // without a word, and a one-letter token is guessed at once.
    it.each(['a', 's3cret', 'x'.repeat(15)])(
      'tokenAuthorizer refuses a token shorter than 16 characters: %j',
      (token) => {
        expect(() => tokenAuthorizer(token)).toThrow(
          expect.objectContaining({
            code: 'WSSUP_INVALID_ARGUMENT',
            message: expect.stringMatching(
              new RegExp(`at least 16 characters, got ${token.length}.*openssl rand -hex 16`),
            ),
          }),
        );
      },
    );

    it('tokenAuthorizer accepts a token of 16 characters', () => {
      expect(() => tokenAuthorizer('x'.repeat(16))).not.toThrow();
    });
  });
});
