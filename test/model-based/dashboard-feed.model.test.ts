/**
 * Model-based tests of the dashboard feed's clock (machines/dashboard-feed.machine.ts)
 * against the real DashboardFeed (src/dashboard/feed.ts) that runs it, its
 * streams read by real HTTP clients over loopback.
 *
 * The model is the feed's rules as a small machine of their own: the first
 * stream to open starts the clock (a poll every pollInterval) and subscribes
 * to the activity log; an activity opens a burst, unless one is gathering,
 * and the burst's window sends every stream its activities and the counts
 * after them, in one write; each poll sends the counts; the last stream to
 * go (its client leaves, or the dashboard's close() ends them all) stops the
 * clock, cancelling both delays, drops a burst under way, and unsubscribes;
 * an activity while no stream is open is heard by nobody. Each delay is an
 * event: exactly that delay of the feed's actor elapses on an ActorClock.
 *
 * After every step: the feed actor's state (from the inspection stream),
 * its delays pending, the streams open, the log's subscribers, and the
 * messages each client has read (snapshot, then `stats` per poll, and the
 * burst's `activity` messages followed by `stats` per window) must be the
 * model's. The model bounds the walk at two streams and two activities a burst.
 *
 * The activity log is a stand-in (a set of listeners): the supervisor's own
 * log and its events are covered by test/examples/dashboard-events.test.ts.
 * The DashboardFeed creates its actor itself and takes no `inspect`: this
 * file wraps xstate's createActor (for the feed's machine only) to watch it.
 *
 * The last test is the coverage gate.
 */
import { once } from 'node:events';
import { createServer, get, type IncomingMessage } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import { assign, type EventObject, setup } from 'xstate';
import { createTestModel } from 'xstate/graph';
import type { ActivityLog, LogNotice, StatsView } from '../../src/dashboard/activity.js';
import { DashboardFeed } from '../../src/dashboard/feed.js';
import { closeServer, listenOnLoopback } from '../helpers/server.js';
import { ActorClock } from '../model/actor-clock.js';
import { MachineCoverage } from '../model/coverage.js';
import { coverageGate } from '../model/gate.js';
import { pathName, replayedPaths, SnapshotView, until } from '../model/replay.js';
import { loadSpecMachines } from '../model/spec.js';

const { dashboardFeedMachine } = await loadSpecMachines();
const coverage = new MachineCoverage(dashboardFeedMachine);

const POLL_MS = 500;
const BATCH_MS = 50;
/** Long beside every path: no keep-alive comment, no stream dropped for not reading. */
const KEEP_ALIVE_MS = 1e12;
const MAX_STREAMS = 2;
const MAX_BURST = 2;

interface FeedBook {
  /** The messages each open client should have read, oldest client first (`event:` names). */
  clients: string[][];
  burst: 'quiet' | 'gathering';
  /** Activities heard since the burst began. */
  outbox: number;
  /** Streams opened, in all: bounds the walk. */
  opened: number;
}

const running = (book: FeedBook) => book.clients.length > 0;

const feedModel = setup({
  types: {} as { context: FeedBook; events: { type: string } },
  guards: {
    canOpen: ({ context }) => context.clients.length < MAX_STREAMS && context.opened < MAX_STREAMS + 1,
    isRunning: ({ context }) => running(context),
    canNotice: ({ context }) => context.outbox < MAX_BURST,
    isGathering: ({ context }) => running(context) && context.burst === 'gathering',
  },
}).createMachine({
  id: 'feedBook',
  context: { clients: [], burst: 'quiet', outbox: 0, opened: 0 },
  on: {
    OPEN: {
      guard: 'canOpen',
      actions: assign(({ context }) => ({
        ...context,
        clients: [...context.clients, ['snapshot']],
        opened: context.opened + 1,
      })),
    },
    // An activity: heard only while a stream is open; the first of a burst opens its window.
    ACTIVITY: {
      guard: 'canNotice',
      actions: assign(({ context }) =>
        running(context) ? { ...context, burst: 'gathering' as const, outbox: context.outbox + 1 } : context,
      ),
    },
    'after pollInterval': {
      guard: 'isRunning',
      actions: assign(({ context }) => ({
        ...context,
        clients: context.clients.map((messages) => [...messages, 'stats']),
      })),
    },
    'after batchWindow': {
      guard: 'isGathering',
      actions: assign(({ context }) => {
        const burst = [...Array<string>(context.outbox).fill('activity'), 'stats'];
        return {
          ...context,
          burst: 'quiet' as const,
          outbox: 0,
          clients: context.clients.map((messages) => [...messages, ...burst]),
        };
      }),
    },
    // The oldest client goes away; the last one takes the clock and the burst under way.
    LEAVE: {
      guard: 'isRunning',
      actions: assign(({ context }) => {
        const clients = context.clients.slice(1);
        return clients.length > 0
          ? { ...context, clients }
          : { ...context, clients, burst: 'quiet' as const, outbox: 0 };
      }),
    },
    // The dashboard's close(): every stream ends at once.
    CLOSE: {
      guard: 'isRunning',
      actions: assign(({ context }) => ({ ...context, clients: [], burst: 'quiet' as const, outbox: 0 })),
    },
  },
});

const stateKey = (book: FeedBook) =>
  `${book.clients.length} streams, ${book.burst}${book.outbox > 0 ? ` (${book.outbox})` : ''}, ${book.opened} opened`;

const model = createTestModel(feedModel, {
  filterEvents: (snapshot, event) => snapshot.can(event),
  serializeState: (snapshot, event) =>
    `${stateKey(snapshot.context as FeedBook)} by ${(event as EventObject | undefined)?.type ?? 'start'}`,
  serializeTransition: (_snapshot, event) => (event === undefined ? '' : ` via ${event.type}`),
});

const paths = replayedPaths<FeedBook>(model.getShortestPaths(), feedModel);

/** An SSE client: the `event:` names of the messages it has read, in order. */
async function openEvents(port: number) {
  const request = get({ host: '127.0.0.1', port, path: '/events' });
  onTestFinished(() => void request.destroy());
  const [response] = (await once(request, 'response')) as [IncomingMessage];
  const events: string[] = [];
  let buffer = '';
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const name = block.split('\n').find((line) => line.startsWith('event: '));
      if (name !== undefined) events.push(name.slice('event: '.length));
    }
  });
  return { request, events };
}

async function startWalk() {
  const clock = new ActorClock();
  const view = new SnapshotView('dashboardFeed');
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
  let computed = 0;
  const feed = new DashboardFeed({
    log,
    // New counts at every computation: every poll and every window writes them.
    stats: () => ({ computed: ++computed }) as unknown as StatsView,
    pollMs: POLL_MS,
    batchMs: BATCH_MS,
    keepAliveMs: KEEP_ALIVE_MS,
    now: () => clock.now(),
    clock,
    inspect: (event) => {
      clock.observe(event);
      coverage.record(event);
      view.record(event);
    },
  });
  const server = createServer((_request, response) => void feed.open(response));
  const port = await listenOnLoopback(server);
  onTestFinished(async () => {
    feed.close();
    await closeServer(server);
  });
  return {
    clock,
    view,
    log,
    listeners,
    feed,
    port,
    clients: [] as Awaited<ReturnType<typeof openEvents>>[],
    seq: 0,
  };
}
type Walk = Awaited<ReturnType<typeof startWalk>>;

async function perform(walk: Walk, event: EventObject, after: FeedBook): Promise<void> {
  switch (event.type) {
    case 'OPEN':
      walk.clients.push(await openEvents(walk.port));
      break;
    case 'ACTIVITY': {
      walk.seq += 1;
      const activity = { seq: walk.seq, at: 0, kind: 'admitted' as const, userId: 'u', connectionId: 'c' };
      for (const listener of walk.listeners) listener({ type: 'activity', activity });
      break;
    }
    case 'after pollInterval':
      walk.clock.fire('dashboardFeed', 'pollInterval');
      break;
    case 'after batchWindow':
      walk.clock.fire('dashboardFeed', 'batchWindow');
      break;
    case 'LEAVE':
      (walk.clients.shift() as { request: { destroy(): void } }).request.destroy();
      break;
    case 'CLOSE':
      walk.feed.close();
      walk.clients.splice(0);
      break;
    default:
      throw new Error(`no real action performs ${event.type}`);
  }
  await until(
    () => walk.feed.streams() === after.clients.length,
    () => `the model has ${after.clients.length} streams open, the feed ${walk.feed.streams()}`,
  );
}

async function check(walk: Walk, book: FeedBook): Promise<void> {
  const { view, feed } = walk;
  for (const [index, expected] of book.clients.entries()) {
    const client = walk.clients[index] as Awaited<ReturnType<typeof openEvents>>;
    await until(
      () => client.events.length >= expected.length,
      () => `client ${index} read ${JSON.stringify(client.events)}, the model ${JSON.stringify(expected)}`,
    );
    expect(client.events, `what client ${index} read`).toEqual(expected);
  }
  expect(feed.streams(), 'streams').toBe(book.clients.length);
  expect(walk.log.subscribers(), 'log subscribers').toBe(running(book) ? 1 : 0);
  const delays = walk.clock
    .pending()
    .filter((timer) => timer.owner !== undefined)
    .map((timer) => `${timer.delay} ${timer.ms} ms`)
    .sort();
  if (running(book)) {
    expect(view.status, 'the feed actor').toBe('active');
    expect(view.value, 'the feed').toEqual({ poll: 'waiting', burst: book.burst });
    expect(delays, 'its delays').toEqual(
      book.burst === 'gathering'
        ? [`batchWindow ${BATCH_MS} ms`, `pollInterval ${POLL_MS} ms`]
        : [`pollInterval ${POLL_MS} ms`],
    );
  } else {
    // Never started, or stopped by the last stream: no delay left.
    expect(view.status === undefined || view.status === 'stopped', 'the feed actor').toBe(true);
    expect(delays, 'its delays').toEqual([]);
  }
}

const progress = { walked: 0, total: paths.length };

describe('dashboard feed, path by path against the real DashboardFeed on real HTTP streams', () => {
  for (const steps of paths) {
    const name = pathName(steps, stateKey);
    it(name, async () => {
      const walk = await startWalk();
      for (const [index, step] of steps.entries()) {
        if (index > 0) await perform(walk, step.event, step.book);
        await check(walk, step.book);
      }
      // At the end: close() leaves no delay of the feed and no subscriber.
      walk.feed.close();
      expect(walk.feed.streams()).toBe(0);
      expect(walk.log.subscribers()).toBe(0);
      expect(walk.clock.pending().filter((timer) => timer.owner !== undefined)).toEqual([]);
      progress.walked += 1;
    });
  }

  coverageGate(coverage, progress);
});
