/**
 * GET /dashboard/events of the reference server, read with plain node:http:
 * the first message is a snapshot, admissions arrive as they happen, and a
 * stream takes everything it added with it when its client goes away or the
 * server closes. Also the stream alone, against a client that stops reading.
 */
import { EventEmitter, once } from 'node:events';
import { get, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import {
  type ReferenceServer,
  type ReferenceServerExtras,
  startReferenceServer,
} from '../../examples/reference-server/server.js';
import type { Activity, ActivityLog, LogNotice, StatsView } from '../../src/dashboard/activity.js';
import { DashboardFeed } from '../../src/dashboard/feed.js';
import type { SupervisorStats } from '../../src/index.js';
import { pendingDelays } from '../helpers/fake-transport.js';
import { ioWait, connect as openClient } from '../helpers/server.js';

interface Message {
  event: string;
  data: unknown;
}

async function startServer(extras: ReferenceServerExtras = {}): Promise<ReferenceServer> {
  // The server logs only errors: none is expected here. (Thrown from the log, it would be lost:
  // it logs from onError, and the runtime catches what onError throws.)
  const logged: string[] = [];
  const server = await startReferenceServer(
    { host: '127.0.0.1', port: 0, limits: { preset: 'test' } },
    (line) => void logged.push(line),
    extras,
  );
  onTestFinished(async () => {
    await server.close();
    expect(logged, 'the reference server logged').toEqual([]);
  });
  return server;
}

/** An SSE client: `next()` resolves with the next message, in order. */
async function openEvents(port: number) {
  const request = get({ host: '127.0.0.1', port, path: '/dashboard/events' });
  onTestFinished(() => void request.destroy());
  const [response] = (await once(request, 'response')) as [IncomingMessage];
  const queue: Message[] = [];
  const waiting: ((message: Message) => void)[] = [];
  let buffer = '';
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = new Map(
        block
          .split('\n')
          .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
      );
      const data = fields.get('data');
      if (data === undefined) continue; // retry: and keep-alive comments
      const message = { event: fields.get('event') ?? 'message', data: JSON.parse(data) };
      const waiter = waiting.shift();
      if (waiter === undefined) queue.push(message);
      else waiter(message);
    }
  });
  const next = () =>
    new Promise<Message>((resolve) => {
      const message = queue.shift();
      if (message === undefined) waiting.push(resolve);
      else resolve(message);
    });
  /** Skips messages until one satisfies the predicate. */
  const until = async (predicate: (message: Message) => boolean) => {
    for (;;) {
      const message = await next();
      if (predicate(message)) return message;
    }
  };
  return { request, response, next, until };
}

/** Waits until the supervisor's totals satisfy the predicate, re-checking on each event. */
function supervisorWatch(server: ReferenceServer) {
  return {
    until: (predicate: (stats: SupervisorStats) => boolean) =>
      vi.waitFor(() => expect(predicate(server.supervisor.stats())).toBe(true), ioWait),
  };
}

/** An open client of the reference server, as `user`. */
const connect = (server: ReferenceServer, user: string) => openClient(`${server.url}/?user=${user}`);

describe('GET /dashboard/events', () => {
  it('starts with a snapshot, then sends admissions and the counts as they change', async () => {
    const server = await startServer();
    const events = await openEvents(server.port);
    expect(events.response.statusCode).toBe(200);
    expect(events.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');

    const snapshot = await events.next();
    expect(snapshot.event).toBe('snapshot');
    expect(snapshot.data).toMatchObject({
      stats: { connections: 0, states: { connecting: 0, active: 0, draining: 0 }, perUser: [] },
      activity: [],
    });

    await connect(server, 'ann');
    const admitted = await events.until((message) => message.event === 'activity');
    expect(admitted.data).toMatchObject({ kind: 'admitted', userId: 'ann', seq: 1 });
    const stats = await events.until(
      (message) => message.event === 'stats' && (message.data as StatsView).states.active === 1,
    );
    expect((stats.data as StatsView).perUser).toEqual([
      { userId: 'ann', live: 1, idle: 0, draining: 0, limit: 5, evictAt: 4 },
    ]);

    // A second stream starts from the history.
    const late = await openEvents(server.port);
    const history = (await late.next()).data as { activity: Activity[] };
    expect(history.activity.map((entry) => [entry.kind, entry.userId])).toEqual([['admitted', 'ann']]);
  });

  it('lists capacity alerts: the user, the level and the direction, as they cross', async () => {
    const server = await startServer(); // limit 5, levels 0.5/0.8/0.9: 0.5 is reached at 3
    const events = await openEvents(server.port);
    await events.next(); // snapshot
    const sockets = [
      await connect(server, 'ann'),
      await connect(server, 'ann'),
      await connect(server, 'ann'),
    ];
    const reached = await events.until(
      (message) => message.event === 'activity' && (message.data as Activity).kind === 'capacity',
    );
    expect(reached.data).toMatchObject({
      kind: 'capacity',
      userId: 'ann',
      level: 0.5,
      direction: 'up',
      live: 3,
    });
    for (const ws of sockets) ws.close();
    const below = await events.until(
      (message) => message.event === 'activity' && (message.data as Activity).kind === 'capacity',
    );
    expect(below.data).toMatchObject({ kind: 'capacity', userId: 'ann', level: 0.5, direction: 'down' });
  });

  it('a client that goes away takes its subscription and timers with it', async () => {
    const server = await startServer();
    const on = vi.spyOn(server.supervisor, 'on');
    expect(server.dashboard.resources()).toEqual({ streams: 0, subscribers: 0 });

    const events = await openEvents(server.port);
    await events.next();
    expect(server.dashboard.resources()).toEqual({ streams: 1, subscribers: 1 });

    events.request.destroy();
    await vi.waitFor(
      () => expect(server.dashboard.resources()).toEqual({ streams: 0, subscribers: 0 }),
      ioWait,
    );
    // Streams listen to the dashboard's one activity log, never to the supervisor itself.
    expect(on).not.toHaveBeenCalled();

    // And the supervisor carries on: nothing was left behind on its side.
    const ws = await connect(server, 'bob');
    ws.close();
    await once(ws, 'close');
    await vi.waitFor(() => expect(server.supervisor.stats().connections).toBe(0), ioWait);
  });

  it('closing the server ends every open stream, promptly', async () => {
    const server = await startServer();
    const events = await openEvents(server.port);
    await events.next();
    const ended = once(events.response, 'end');
    await server.close();
    await ended;
    expect(server.dashboard.resources()).toEqual({ streams: 0, subscribers: 0 });
  });

  it('refuses more streams than it may hold', async () => {
    const server = await startServer();
    const open = await Promise.all(Array.from({ length: 32 }, () => openEvents(server.port)));
    expect(open.every((events) => events.response.statusCode === 200)).toBe(true);
    const extra = get({ host: '127.0.0.1', port: server.port, path: '/dashboard/events' });
    const [response] = (await once(extra, 'response')) as [IncomingMessage];
    response.resume();
    expect(response.statusCode).toBe(503);
  });
});

describe('GET /dashboard/events, many streams and many users (issue 13, item 14)', () => {
  it('one computation serves every open stream', async () => {
    // No tick during the test (an hour): only the burst of events computes.
    const server = await startServer({ dashboard: { pollMs: 3_600_000 } });
    const streams = await Promise.all(Array.from({ length: 8 }, () => openEvents(server.port)));
    for (const events of streams) expect((await events.next()).event).toBe('snapshot');
    expect(server.dashboard.computations()).toBe(1); // eight snapshots, one view

    await connect(server, 'ann');
    for (const events of streams) {
      expect((await events.next()).data).toMatchObject({ kind: 'admitted', userId: 'ann' });
      expect(await events.next()).toMatchObject({ event: 'stats', data: { connections: 1 } });
    }
    expect(server.dashboard.computations()).toBe(2); // the burst, once for all eight
  });

  it('sends at most maxUsers rows however many users there are, from a bounded set of tracked ones', async () => {
    const server = await startServer({ dashboard: { maxUsers: 5, trackedUsers: 10 } });
    const stats = supervisorWatch(server);
    const users = Array.from({ length: 30 }, (_, i) => `user-${String(i).padStart(2, '0')}`);
    await Promise.all(users.map((user) => connect(server, user)));
    await connect(server, 'user-29'); // the busiest, and the most recent
    await stats.until((totals) => totals.byState.active === 31);

    const events = await openEvents(server.port);
    const view = ((await events.next()).data as { stats: StatsView }).stats;
    expect(view).toMatchObject({ connections: 31, users: 30, moreUsers: 25 });
    expect(view.perUser).toHaveLength(5);
    expect(view.perUser[0]).toMatchObject({ userId: 'user-29', live: 2 });
    // Only the ten most recent users are read: user-20 .. user-29.
    expect(view.perUser.map((row) => row.userId).every((id) => id >= 'user-20')).toBe(true);
    // The size of a message does not grow with the users.
    expect(JSON.stringify(view).length).toBeLessThan(2_000);
  });

  it('a user whose last connection ends leaves the rows', async () => {
    const server = await startServer({ dashboard: { trackedUsers: 1, maxUsers: 1 } });
    const ann = await connect(server, 'ann');
    await connect(server, 'bob'); // the one tracked user: ann fell out
    const events = await openEvents(server.port);
    const before = ((await events.next()).data as { stats: StatsView }).stats;
    expect(before).toMatchObject({ users: 2, moreUsers: 1 });
    expect(before.perUser.map((row) => row.userId)).toEqual(['bob']);

    ann.close();
    const after = await events.until(
      (message) => message.event === 'stats' && (message.data as StatsView).users === 1,
    );
    expect(after.data).toMatchObject({ moreUsers: 0, perUser: [{ userId: 'bob' }] });
  });
});

describe('DashboardFeed and its streams', () => {
  afterEach(() => void vi.useRealTimers());

  /** A response whose buffer is full after `capacity` writes. */
  class FakeResponse extends EventEmitter {
    writes: string[] = [];
    capacity = Number.POSITIVE_INFINITY;
    destroyed = false;
    writableEnded = false;
    writeHead() {
      return this;
    }
    write(chunk: string) {
      this.writes.push(chunk);
      return this.writes.length < this.capacity;
    }
    end() {
      this.writableEnded = true;
    }
    destroy() {
      this.destroyed = true;
    }
  }

  function fakeLog() {
    const listeners = new Set<(notice: LogNotice) => void>();
    const log: ActivityLog = {
      recent: () => [],
      subscribe: (listener) => {
        listeners.add(listener);
        return () => void listeners.delete(listener);
      },
      subscribers: () => listeners.size,
      close: () => listeners.clear(),
    };
    const activity = (seq: number) => {
      for (const listener of listeners) {
        listener({
          type: 'activity',
          activity: { seq, at: 0, kind: 'admitted', userId: 'u', connectionId: 'c' },
        });
      }
    };
    return { log, activity };
  }

  /** A feed whose view is `stats()`; `computed` counts the calls. */
  function fakeFeed(stats: () => StatsView, log: ActivityLog, clock?: SimulatedClock) {
    let computed = 0;
    const feed = new DashboardFeed({
      log,
      stats: () => {
        computed += 1;
        return stats();
      },
      pollMs: 500,
      batchMs: 50,
      keepAliveMs: 15_000,
      ...(clock === undefined ? {} : { clock }),
    });
    return { feed, computed: () => computed };
  }

  it('stops writing to a client that does not read, and catches it up with one snapshot', () => {
    vi.useFakeTimers();
    const response = new FakeResponse();
    const { log, activity } = fakeLog();
    let counter = 0;
    const { feed } = fakeFeed(() => ({ connections: counter }) as unknown as StatsView, log);
    const stream = feed.open(response as unknown as ServerResponse);
    expect(response.writes.map((chunk) => chunk.split('\n', 1)[0])).toEqual([
      'retry: 2000',
      'event: snapshot',
    ]);

    response.capacity = response.writes.length + 1; // the next write fills the buffer
    // 1000 bursts within keepAliveMs (15 s): longer behind, and it would be dropped (next test).
    for (let seq = 1; seq <= 1000; seq += 1) {
      counter = seq;
      activity(seq);
      vi.advanceTimersByTime(14);
    }
    expect(response.writes).toHaveLength(3); // one activity, then nothing until `drain`

    response.capacity = Number.POSITIVE_INFINITY;
    response.emit('drain');
    expect(response.writes).toHaveLength(4);
    expect(response.writes[3]).toMatch(/^event: snapshot\ndata: \{"stats":\{"connections":1000\}/);

    // end(), which is idempotent, takes every timer and listener of the feed; what is left (the
    // bound on the end, its one timer and `close` listener) goes with the response's `close`.
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    stream.end();
    stream.end();
    expect(log.subscribers()).toBe(0);
    expect(feed.streams()).toBe(0);
    expect(response.writableEnded).toBe(true);
    expect(vi.getTimerCount()).toBe(1);
    expect(response.listenerCount('close')).toBe(1);
    response.emit('close'); // finished: the client read the end
    expect(vi.getTimerCount()).toBe(0);
    expect(response.listenerCount('close') + response.listenerCount('drain')).toBe(0);
    expect(response.destroyed).toBe(false);
  });

  // close() ended a stream whose client had stopped reading, and nothing ever destroyed it: its
  // socket kept the app's server.close() waiting (test/integration/dashboard.test.ts, over TCP).
  it("destroys an ended response that has not closed within keepAliveMs, on the feed's clock", () => {
    const clock = new SimulatedClock();
    const response = new FakeResponse();
    const { log } = fakeLog();
    const { feed } = fakeFeed(() => ({}) as StatsView, log, clock);
    feed.open(response as unknown as ServerResponse);
    feed.close();
    feed.close();
    expect(feed.streams()).toBe(0);
    expect(response.writableEnded).toBe(true);
    expect(pendingDelays(clock)).toBe(1);
    clock.increment(15_000 - 1);
    expect(response.destroyed).toBe(false);
    clock.increment(1);
    expect(response.destroyed).toBe(true);
    expect(pendingDelays(clock)).toBe(0);
    expect(response.listenerCount('close') + response.listenerCount('drain')).toBe(0);
  });

  it('writes a comment line to a client that reads, after keepAliveMs without a write, and only then', () => {
    vi.useFakeTimers();
    const response = new FakeResponse();
    const { log } = fakeLog();
    const { feed } = fakeFeed(() => ({}) as StatsView, log); // the counts never change: no stats write
    feed.open(response as unknown as ServerResponse);
    const opened = response.writes.length;
    vi.advanceTimersByTime(15_000 - 500); // the last tick before keepAliveMs
    expect(response.writes).toHaveLength(opened);
    vi.advanceTimersByTime(500);
    expect(response.writes.slice(opened)).toEqual([': keep-alive\n\n']);
    vi.advanceTimersByTime(15_000);
    expect(response.writes.slice(opened)).toEqual([': keep-alive\n\n', ': keep-alive\n\n']);
    expect(feed.streams()).toBe(1);
    expect(response.destroyed).toBe(false);
    feed.close();
  });

  it('drops a client still behind keepAliveMs after the write that filled its buffer', () => {
    vi.useFakeTimers();
    const response = new FakeResponse();
    const { log, activity } = fakeLog();
    const { feed } = fakeFeed(() => ({}) as StatsView, log);
    feed.open(response as unknown as ServerResponse);
    response.capacity = response.writes.length + 1;
    activity(1);
    vi.advanceTimersByTime(50); // the burst's write fills the buffer
    expect(response.writes).toHaveLength(3);

    vi.advanceTimersByTime(15_000 - 50); // the tick at 15 s: 14.95 s behind
    expect(feed.streams()).toBe(1);
    vi.advanceTimersByTime(500); // the tick at 15.5 s: the first at or past keepAliveMs
    expect(feed.streams()).toBe(0);
    expect(response.destroyed).toBe(true);
    expect(response.writableEnded).toBe(true);
    expect(response.listenerCount('close') + response.listenerCount('drain')).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(log.subscribers()).toBe(0);
  });

  it('ends itself when the client goes away', () => {
    vi.useFakeTimers();
    const response = new FakeResponse();
    const { log, activity } = fakeLog();
    const { feed } = fakeFeed(() => ({}) as StatsView, log);
    feed.open(response as unknown as ServerResponse);
    activity(1); // leaves a burst pending
    response.destroyed = true;
    response.emit('close');
    expect(vi.getTimerCount()).toBe(0);
    expect(log.subscribers()).toBe(0);
    expect(feed.streams()).toBe(0);
  });

  it('ends at once when the client was gone before it started', () => {
    vi.useFakeTimers();
    const response = new FakeResponse();
    response.destroyed = true; // its `close` has already been emitted
    const { log } = fakeLog();
    const { feed } = fakeFeed(() => ({}) as StatsView, log);
    feed.open(response as unknown as ServerResponse);
    expect(feed.streams()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(log.subscribers()).toBe(0);
  });

  // Issue 13, item 14: 32 streams used to cost 32 computations per tick.
  it('computes and serialises once per tick and per burst, and writes once per stream, whatever the number of streams', () => {
    vi.useFakeTimers();
    const { log, activity } = fakeLog();
    let counter = 0;
    const { feed, computed } = fakeFeed(() => ({ connections: counter }) as unknown as StatsView, log);
    const responses = Array.from({ length: 32 }, () => new FakeResponse());
    for (const response of responses) feed.open(response as unknown as ServerResponse);
    expect(computed()).toBe(1); // every snapshot is the same one

    for (let tick = 1; tick <= 10; tick += 1) {
      counter = tick;
      vi.advanceTimersByTime(500);
    }
    expect(computed()).toBe(11);

    for (let seq = 1; seq <= 20; seq += 1) activity(seq); // one burst
    vi.advanceTimersByTime(50);
    expect(computed()).toBe(12);
    expect(feed.computations()).toBe(12);

    // Every stream was written the same: the snapshot, 10 changes of the counts,
    // and the burst's 20 activities in one write (the counts did not move).
    const [first, ...others] = responses.map((response) => response.writes);
    expect(first).toHaveLength(2 + 10 + 1);
    expect(first?.[12]?.match(/^event: activity$/gm)).toHaveLength(20);
    for (const writes of others) expect(writes).toEqual(first);
    feed.close();
    for (const response of responses) response.emit('close'); // each finished
    expect(vi.getTimerCount()).toBe(0);
  });
});
