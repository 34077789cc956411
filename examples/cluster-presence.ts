/**
 * Presence across processes (docs/sending.md, "Presence across processes"): friend lists
 * that stay true when a user's connections are spread over several processes on one Redis,
 * when a process is restarted, killed with -9, stopped for good or paused. Each process tells
 * `offline` for its own users only, and a dead one tells nothing, so the app combines four
 * signals, each ending in the same question to the cluster-wide book (`live`):
 *
 *   offline (this process)  ──┐
 *   reaped (a dead process) ──┼─> due at now + grace (in Redis) ─> live 0? ─> offline, told once
 *   hand-over (shutdown)    ──┤
 *   reconciliation          ──┘
 *
 *   npm run example:cluster-presence -- --redis redis://127.0.0.1:6379 --node-id a --port 8080
 *   npm run example:cluster-presence -- --redis redis://127.0.0.1:6379 --node-id b --port 8081
 *   then connect ws://127.0.0.1:8080/?user=ann and ws://127.0.0.1:8081/?user=bob: each hears
 *   {"user":…,"status":"online"|"offline"} for the others (the demo's friend graph: everyone
 *   online). Kill one with -9, or stop it: its users are offline within the lease, the reaper
 *   and the grace, unless they come back. --lease-ttl-ms 1500 --grace-ms 4000 shows it in seconds.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createClient } from 'redis';
import { createSupervisor, InvalidOptionError, type Supervisor } from 'ws-supervisor';
// Not the library: the examples' own --port, --help and listen error. Your app reads its own configuration.
import { exitIfCannotListen, exitWithFlagError, readExampleFlags } from './reference-server/command-line.js';

const commandLine = {
  script: 'example:cluster-presence',
  about: 'Friend lists across processes on one Redis: online and offline told once, no flicker on a deploy.',
  flags: {
    redis: ['<url>', 'the Redis to share (default redis://127.0.0.1:6379)'],
    'node-id': ['<id>', "this process's name in the cluster (default <hostname>:<pid>)"],
    'lease-ttl-ms': ['<ms>', 'cluster.leaseTtlMs: a dead process is noticed within this (default 15000)'],
    'linger-ms': ['<ms>', 'lingerMs: the grace of this process’s offline event (default 5000)'],
    'grace-ms': ['<ms>', 'how long a user may be booked nowhere before offline (default 20000)'],
    'pace-ms': ['<ms>', 'shutdown() closes half at once, the rest this long after (default: all at once)'],
  },
} as const;

/** What the presence needs of Redis (a node-redis client has it): sets whose add and remove say whether they changed it. */
export interface PresenceRedis {
  sAdd(key: string, member: string): Promise<number>;
  sRem(key: string, member: string): Promise<number>;
  sMembers(key: string): Promise<string[]>;
  zAdd(
    key: string,
    members: { score: number; value: string }[],
    options?: { condition?: 'NX'; comparison?: 'GT' },
  ): Promise<number>;
  zRangeByScore(
    key: string,
    min: number,
    max: number,
    options?: { LIMIT: { offset: number; count: number } },
  ): Promise<string[]>;
  zRem(key: string, member: string): Promise<number>;
}

export interface PresenceOptions {
  supervisor: Supervisor;
  redis: PresenceRedis;
  /**
   * How long a user may be booked on no process before they are offline: longer than the
   * client's reconnect after a restart (its shutdownWindowMs, 10 s by default, plus backoff).
   */
  graceMs: number;
  /**
   * The supervisor's cluster.leaseTtlMs: after a new incarnation, this process's users are
   * marked online again once more this long after the event, when its re-booking is done.
   */
  leaseTtlMs: number;
  /** Your friend graph. */
  friendsOf(userId: string): Promise<string[]>;
  /** The wall clock, for the deadlines shared in Redis (tests pass their own). */
  now?: () => number;
  log?: (line: string) => void;
}

/** Deadlines taken per read of the due set: a reap of thousands is asked in pages, not in one reply. */
const DUE_PAGE = 100;

export function createPresence({
  supervisor,
  redis,
  graceMs,
  leaseTtlMs,
  friendsOf,
  now = Date.now,
  log = () => {},
}: PresenceOptions) {
  const ONLINE = 'presence:online'; // the users the friend lists show online
  const DUE = 'presence:due'; // users to ask the book about, scored by when
  // Users with a connection here, or lingering here: what this process hands over when it stops.
  // Not stats({ perUser: true }): it leaves out a user in their linger, whose offline a
  // shutdown() would never tell.
  const here = new Set<string>();

  // Notices from one process reach a friend in the order sent; from two processes, not always
  // (an "offline" sent by a before an "online" sent by b may arrive after it). Each is sent
  // once its change to the presence store is made, so the store is right; a client that must
  // not show a stale one asks the store again, or the notices carry a per-user version taken
  // in the same Redis transaction as the change (MULTI: SREM/SADD then INCR).
  const tell = async (userId: string, status: 'online' | 'offline') => {
    const notice = JSON.stringify({ user: userId, status });
    for (const friend of await friendsOf(userId))
      await supervisor.sendToUser(friend, notice, { cluster: true });
  };
  // SADD and SREM answer 1 for the one call that changed the set: whichever process decides,
  // and however many decide at once, friends are told once.
  const markOnline = async (userId: string) => {
    if ((await redis.sAdd(ONLINE, userId)) === 1) await tell(userId, 'online');
  };
  const markOffline = async (userId: string) => {
    if ((await redis.sRem(ONLINE, userId)) !== 1) return;
    await tell(userId, 'offline');
    // Between the book's 0 and this SREM another process may have admitted the user: its SADD
    // answered 0 (not removed yet) and told nothing. Ask again: a flicker that ends right,
    // rather than a connected user shown offline until the reconciliation.
    if ((await live(userId)) > 0) await markOnline(userId);
  };
  const holds = (userId: string) => (supervisor.userStats(userId)?.live ?? 0) > 0; // here, O(1)
  const live = async (userId: string) => (await supervisor.userStats(userId, { cluster: true }))?.live ?? 0;
  // GT for an event (offline elsewhere, reaped, hand-over): the latest news sets the deadline,
  // never earlier than one already set (clocks of processes differ a little). NX for the
  // reconciliation and for a deadline put back: it only fills gaps, or with many processes
  // reconciling at their own phases a stale user's deadline would be pushed on and never come.
  const dueLater = (users: Iterable<string>, condition: { condition: 'NX' } | { comparison: 'GT' }) => {
    const members = [...users].map((value) => ({ score: now() + graceMs, value }));
    return members.length === 0 ? Promise.resolve() : redis.zAdd(DUE, members, condition).then(() => {});
  };
  // Every ask of the book rejects in a Redis outage (WSSUP_STORE_UNAVAILABLE), before the first
  // lease, and once shutdown() has stopped the store (WSSUP_SHUTTING_DOWN: after its last
  // connection closed): uncaught, that is an unhandled rejection, which ends Node.
  const caught = (what: string, work: Promise<unknown>) =>
    void work.catch((error: Error & { code?: string }) => log(`${what}: ${error.code ?? error.message}`));
  /** This process's users online again: after a new incarnation, and at each reconciliation. */
  const markOwnOnline = async () => {
    for (const userId of here) if (holds(userId)) await markOnline(userId);
  };
  let afterRebooking: ReturnType<typeof setTimeout> | undefined;

  // #region presence-signals
  supervisor.on('admitted', ({ userId }) => {
    here.add(userId);
    caught('online', markOnline(userId));
  });
  // The user's last connection here is lingerMs gone: offline here, maybe not elsewhere. If the
  // book does not answer (an outage), a deadline as for the other events: the due check asks
  // again once it does. If that ZADD fails too, it is logged and left to the reconciliation.
  supervisor.on('offline', ({ userId }) => {
    here.delete(userId);
    caught(
      'offline',
      live(userId).then(
        (n) => (n === 0 ? markOffline(userId) : log(`offline here: ${userId}, ${n} elsewhere`)),
        (error: Error & { code?: string }) => {
          log(`offline here: ${userId}, due (${error.code ?? error.message})`);
          return dueLater([userId], { comparison: 'GT' });
        },
      ),
    );
  });
  // A dead process's users, booked nowhere now: not yet offline, their clients may be on their
  // way back (a pause past the lease books them again). Ask again after the grace.
  supervisor.on('reaped', ({ nodeId, offline }) => {
    log(`reaped ${nodeId}: ${offline.join(' ')}`);
    caught('reaped', dueLater(offline, { comparison: 'GT' }));
  });
  // This process was paused past its lease (or Redis failed over): it books its users again,
  // with no admitted event, and another process may have marked them offline meanwhile, or
  // may until the re-booking is done (no event says when): now, and once more a lease later.
  supervisor.on('incarnation', ({ cause }) => {
    log(`new incarnation (${cause})`);
    caught('back', markOwnOnline());
    clearTimeout(afterRebooking);
    afterRebooking = setTimeout(() => caught('back', markOwnOnline()), leaseTtlMs);
  });
  // #endregion presence-signals

  let checking = false;
  /**
   * The users whose deadline has passed, a page at a time: one process takes each (ZREM
   * answers 1 once) and asks the book. One pass at a time here. A deadline whose ask fails
   * (an outage, no lease yet, the store stopped) is put back, due now, and the pass goes on.
   */
  async function checkDue() {
    if (checking) return;
    checking = true;
    try {
      for (;;) {
        const page = await redis.zRangeByScore(DUE, 0, now(), { LIMIT: { offset: 0, count: DUE_PAGE } });
        let failed = false;
        for (const userId of page) {
          if ((await redis.zRem(DUE, userId)) !== 1) continue;
          try {
            const n = await live(userId);
            log(`due: ${userId} ${n === 0 ? 'offline' : `online (${n})`}`);
            // Online: a no-op (SADD answers 0), unless a race left them out of the store (markOffline).
            await (n === 0 ? markOffline(userId) : markOnline(userId));
          } catch (error) {
            failed = true;
            const { code, message } = error as Error & { code?: string };
            log(`due: ${userId} put back (${code ?? message})`);
            await redis.zAdd(DUE, [{ score: now(), value: userId }], { condition: 'NX' });
          }
        }
        // A full page may have more behind it; one put back would come round again at once.
        if (page.length < DUE_PAGE || failed) return;
      }
    } finally {
      checking = false;
    }
  }
  /**
   * What no event tells, or an event lost (a crash between a purge and its `reaped`): this
   * process's users are online; a user online with no booked connection is due after the
   * grace, not offline at once (during a restart the book counts them nowhere for seconds).
   * O(users online) cluster reads: every few minutes, not every tick.
   */
  async function reconcile() {
    await markOwnOnline();
    const gone: string[] = [];
    for (const userId of await redis.sMembers(ONLINE)) if ((await live(userId)) === 0) gone.push(userId);
    await dueLater(gone, { condition: 'NX' });
  }
  /**
   * After shutdown(): its users and the ones lingering here are handed to the survivors with a
   * deadline (its offline events are not told, and its own purge tells no `reaped`). After it,
   * not before: a paced shutdown closes its last connections later than now.
   */
  const handOver = () => dueLater(here, { comparison: 'GT' });
  /** Clears the presence's own timer (the pass after a new incarnation). */
  const stop = () => clearTimeout(afterRebooking);

  return { checkDue, reconcile, handOver, stop, online: () => redis.sMembers(ONLINE) };
}

/** Runs the example: a supervisor in cluster mode, the presence, and their timers. */
async function main() {
  const flags = readExampleFlags(commandLine);
  const redisUrl = flags.redis ?? 'redis://127.0.0.1:6379';
  const graceMs = Number(flags['grace-ms'] ?? 20_000);
  if (!Number.isSafeInteger(graceMs) || graceMs < 0)
    exitWithFlagError(commandLine, '--grace-ms', {
      allowed: 'an integer of milliseconds',
      received: flags['grace-ms'],
    });
  const paceMs = flags['pace-ms'] === undefined ? undefined : Number(flags['pace-ms']);
  if (paceMs !== undefined && (!Number.isSafeInteger(paceMs) || paceMs <= 0))
    exitWithFlagError(commandLine, '--pace-ms', {
      allowed: 'a positive integer of milliseconds',
      received: flags['pace-ms'],
    });
  const leaseTtlMs = Number(flags['lease-ttl-ms'] ?? 15_000);
  let supervisor: Supervisor;
  try {
    supervisor = createSupervisor({
      authenticate: (request) => new URLSearchParams(request.url?.split('?')[1]).get('user'),
      lingerMs: Number(flags['linger-ms'] ?? 5_000),
      cluster: { redis: redisUrl, nodeId: flags['node-id'], leaseTtlMs },
      onError: (error) => console.error(`${error.code}: ${error.message}`),
    });
  } catch (error) {
    if (!(error instanceof InvalidOptionError)) throw error;
    const names: Record<string, string> = {
      'cluster.redis': '--redis',
      'cluster.nodeId': '--node-id',
      'cluster.leaseTtlMs': '--lease-ttl-ms',
      lingerMs: '--linger-ms',
    };
    exitWithFlagError(commandLine, names[error.option] ?? error.option, error);
  }
  // The presence store's own connection. disableOfflineQueue: while Redis is away, a command
  // fails at once (and is logged) instead of waiting in a queue that outlives the outage.
  const redis = createClient({ url: redisUrl, disableOfflineQueue: true });
  redis.on('error', () => {}); // node-redis reconnects by itself; each failed command is logged

  const log = (line: string) => console.log(`presence: ${line}`);
  const presence = createPresence({
    supervisor,
    redis,
    graceMs,
    leaseTtlMs,
    // Demo: everyone online is everyone's friend. Yours reads your friend graph.
    friendsOf: async (userId) => (await redis.sMembers('presence:online')).filter((user) => user !== userId),
    log,
  });
  const reconcile = () => void presence.reconcile().catch((e: Error) => log(`reconcile: ${e.message}`));

  // The app's own timers (not the library's): deadlines checked a few times per grace, and the
  // reconciliation at startup, every five minutes and when the presence's Redis is back.
  // The checks start once the lease is held: before it, every ask of the book rejects.
  let stopped = false; // a second signal (Ctrl-C under npm reaches node twice) hands over nothing more
  let checking: ReturnType<typeof setInterval> | undefined;
  const reconciling = setInterval(reconcile, 5 * 60_000);
  const leaseHeld = () => {
    if (stopped) return;
    log(`lease held as ${supervisor.stats().cluster?.nodeId}`);
    reconcile();
    checking = setInterval(
      () => void presence.checkDue().catch((e: Error) => log(`due: ${e.message}`)),
      Math.max(100, Math.min(1_000, graceMs / 4)),
    );
  };
  supervisor.ready({ signal: AbortSignal.timeout(5_000) }).then(leaseHeld, (error: Error) => {
    log(`no lease yet (${error.message})`);
    // Still waiting (it rejects once shutdown() has begun): the checks start with the lease.
    supervisor.ready().then(leaseHeld, () => {});
  });
  let redisReady = false;
  redis.on('ready', () => {
    if (redisReady && checking !== undefined && !stopped) reconcile(); // a reconnect: what it missed meanwhile
    redisReady = true;
  });
  void redis.connect().catch(() => {});

  const server = createServer((_request, response) => response.end('presence example\n'));
  supervisor.attach(server);
  exitIfCannotListen(server);
  server.listen(flags.port, '127.0.0.1', () => {
    console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });

  // The hand-over comes after shutdown() (which resolves once every connection is closed and
  // the slots given back), and before the presence's Redis connection is closed.
  const afterShutdown = () =>
    void presence
      .handOver()
      .catch((error: Error) => log(`hand-over failed (the reconciliation will find them): ${error.message}`))
      .finally(() => redis.destroy());
  const stop = () => {
    if (stopped) return;
    stopped = true;
    // First: once shutdown() has stopped the store, every ask of the book rejects.
    clearInterval(checking);
    clearInterval(reconciling);
    presence.stop();
    void supervisor
      .shutdown(paceMs === undefined ? undefined : { pace: { windowMs: 2 * paceMs, batches: 2 } })
      .catch((error: unknown) => console.error('shutdown failed', error))
      .finally(() => {
        server.close();
        // After shutdown() only HTTP stragglers are left: cut them, or a request whose
        // headers never end holds close() forever (examples/embedding.ts says why).
        server.closeAllConnections();
        afterShutdown();
      });
  };
  process.on('SIGINT', stop).on('SIGTERM', stop);
}

// Run as a program; imported (by a test, or your app), only createPresence.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
