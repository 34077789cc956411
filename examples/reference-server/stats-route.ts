/**
 * GET /stats (issue 13, item 15). By default the totals of stats(), which
 * name no user and cost O(1). The per-user detail walks every user's book
 * (O(users)) and lists user ids, so it is opt-in (`?perUser=1`), bounded
 * (`limit`, the busiest users first) and only for requests the dashboard's
 * `authorize` lets through. So is the cluster-wide book (`?cluster=1`): it
 * reads every booked user's book from the store.
 *
 *   GET /stats                      { connections, users, byState, counters, resources }
 *   GET /stats?perUser=1[&limit=n]  the same, plus perUser: UserStats[] (closest to its own limit
 *                                   first, live ÷ limit, then most live, most draining, by id:
 *                                   the dashboard's order) and moreUsers
 *   GET /stats?cluster=1            (--redis, --redis-cluster, --redis-sentinel; behind the token) the same, plus global: the nodes with a lease and
 *                                   the cluster-wide totals; with perUser=1, each listed user's
 *                                   cluster-wide book as perUser[i].global; with maxBooks=n, the totals
 *                                   from at most n users' books (global.capped past it)
 *   GET /stats?user=<id>            (behind the token: it names a user) the totals, plus user:
 *                                   { userId, book: userStats(id) or null, connections: connectionsOf(id),
 *                                   oldest first, as { id, admittedAt, idleForMs, silentForMs } }; with
 *                                   cluster=1, also global and user.global: userStats(id, { cluster: true }) or null
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
// The dashboard's order and cut, one module for both: a copy here had kept sorting by live alone.
import { busiest } from '../../src/busiest-first.js';
import { type Authorize, checkAccess } from '../../src/dashboard/index.js';
import {
  type ClusterUserBook,
  type ClusterView,
  type Supervisor,
  SupervisorError,
  type SupervisorStats,
  type UserStats,
} from '../../src/index.js';
import { queryOf, sendJson } from './http.js';

export const PER_USER_LIMIT_DEFAULT = 100;
export const PER_USER_LIMIT_MAX = 1000;

/** The answer to `?perUser=1`. */
export interface PerUserStats extends Omit<SupervisorStats, 'perUser'> {
  /** At most `limit` books, the busiest first. */
  perUser: UserStats[];
  /** Users left out by the limit. */
  moreUsers: number;
  limit: number;
}

/** The answer to `?user=<id>` (with `cluster=1`, `user.global` and `global` too). */
export interface OneUserStats extends Omit<SupervisorStats, 'perUser'> {
  user: {
    userId: string;
    /** userStats(id): this process's book; null for a user with no connection here. */
    book: UserStats | null;
    /**
     * connectionsOf(id): the live connections on this process, oldest first, each with its
     * admission time, how long it has been idle (at the limit, why none was evicted) and how
     * long its peer has been silent (a dead peer not yet found: it grows though the server
     * sends), in ms on this process's clock.
     */
    connections: Array<{ id: string; admittedAt: number; idleForMs: number; silentForMs: number }>;
    /** cluster=1: userStats(id, { cluster: true }); null when no node books the user. */
    global?: ClusterUserBook | null;
  };
  global?: ClusterView | undefined;
}

/**
 * The library's own verdict on a user id (docs/rules.md, "User ids"): undefined when it
 * is one, else the message of its WSSUP_INVALID_ARGUMENT. userStats() validates
 * before it reads anything, so a bad id never reaches the store.
 */
function userIdError(supervisor: Supervisor, userId: string): string | undefined {
  try {
    supervisor.userStats(userId);
    return undefined;
  } catch (error) {
    if (error instanceof SupervisorError && error.code === 'WSSUP_INVALID_ARGUMENT') return error.message;
    throw error;
  }
}

function readFlag(raw: string | null): boolean | undefined {
  if (raw === null || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  return undefined;
}

export function createStatsRoute(
  supervisor: Supervisor,
  authorize: Authorize,
  onError: (error: unknown) => void,
): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    const query = queryOf(request);
    const perUser = readFlag(query.get('perUser'));
    const cluster = readFlag(query.get('cluster'));
    if (perUser === undefined || cluster === undefined) {
      sendJson(response, 400, { error: 'perUser and cluster must be 1, true, 0 or false' });
      return;
    }
    // Said, not ignored: the totals alone would look as if the limit had been applied.
    if (!perUser && query.has('limit')) {
      sendJson(response, 400, { error: 'limit needs perUser=1: it is how many users perUser lists' });
      return;
    }
    // One user, or the busiest N: two views. Together one would be silently dropped.
    const userId = query.get('user');
    if (userId !== null && perUser) {
      sendJson(response, 400, {
        error: 'user=<id> and perUser=1 are two views: ask for one user or for the busiest users, not both',
      });
      return;
    }
    // The library's rules (docs/rules.md, "User ids"), by the library: `?user=` (empty) is refused too.
    const invalidUser = userId === null ? undefined : userIdError(supervisor, userId);
    if (invalidUser !== undefined) {
      sendJson(response, 400, { error: `user: ${invalidUser}`, code: 'WSSUP_INVALID_ARGUMENT' });
      return;
    }
    // The cluster-wide read bounded (stats({ cluster: true, maxBooks })): said, not ignored, without cluster=1.
    const rawMaxBooks = query.get('maxBooks');
    if (rawMaxBooks !== null && !cluster) {
      sendJson(response, 400, {
        error: 'maxBooks needs cluster=1: it is how many users’ books the cluster-wide totals read',
      });
      return;
    }
    const maxBooks = rawMaxBooks === null ? undefined : Number(rawMaxBooks);
    if (
      maxBooks !== undefined &&
      (!Number.isSafeInteger(maxBooks) || maxBooks < 1 || rawMaxBooks?.trim() === '')
    ) {
      sendJson(response, 400, { error: 'maxBooks must be an integer of at least 1' });
      return;
    }
    if (cluster && supervisor.options.cluster === undefined) {
      sendJson(response, 400, {
        error:
          'cluster=1 needs cluster mode: start the server with --redis <url>, --redis-cluster <urls> or --redis-sentinel <spec>',
      });
      return;
    }
    // Issue 12: the cluster-wide book, read from the store (a 503 while it does not answer).
    const global = (): Promise<ClusterView | undefined> =>
      cluster
        ? supervisor
            .stats(maxBooks === undefined ? { cluster: true } : { cluster: true, maxBooks })
            .then((stats) => stats.global)
        : Promise.resolve(undefined);
    const failed = (error: unknown) => sendJson(response, 503, { error: String(error) });
    if (userId !== null) {
      // It names a user (a page's "user 42 cannot connect"): behind the token, as perUser=1 is.
      void checkAccess(authorize, request, response, onError).then((allowed) => {
        if (!allowed) return;
        // Read after the access check, which may be async: the book as it is now.
        const user: OneUserStats['user'] = {
          userId,
          book: supervisor.userStats(userId) ?? null,
          connections: supervisor.connectionsOf(userId).map(({ id, admittedAt, idleForMs, silentForMs }) => ({
            id,
            admittedAt,
            idleForMs,
            silentForMs,
          })),
        };
        const totals: Omit<SupervisorStats, 'perUser'> = supervisor.stats();
        if (!cluster) {
          sendJson(response, 200, { ...totals, user } satisfies OneUserStats);
          return;
        }
        Promise.all([global(), supervisor.userStats(userId, { cluster: true })]).then(([view, book]) => {
          const body: OneUserStats = { ...totals, user: { ...user, global: book ?? null }, global: view };
          sendJson(response, 200, body);
        }, failed);
      });
      return;
    }
    if (!perUser && !cluster) {
      sendJson(response, 200, supervisor.stats());
      return;
    }
    const rawLimit = query.get('limit');
    const limit = rawLimit === null ? PER_USER_LIMIT_DEFAULT : Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > PER_USER_LIMIT_MAX || rawLimit?.trim() === '') {
      sendJson(response, 400, { error: `limit must be an integer from 1 to ${PER_USER_LIMIT_MAX}` });
      return;
    }
    // Both walk every user: perUser every book of this process, cluster=1 every booked user's
    // book in the store (one Redis command each, across the cluster). Open, either let anyone who
    // reaches the port make the server or the store do O(users) work as often as they like.
    void checkAccess(authorize, request, response, onError).then((allowed) => {
      if (!allowed) return;
      if (!perUser) {
        global().then((view) => sendJson(response, 200, { ...supervisor.stats(), global: view }), failed);
        return;
      }
      const { perUser: books = {}, ...totals } = supervisor.stats({ perUser: true });
      // The `limit` busiest without sorting every user (O(users × log limit), not O(users × log users)).
      const all = Object.values(books);
      const shown = busiest(all, limit);
      const body: PerUserStats = {
        ...totals,
        perUser: shown,
        moreUsers: all.length - shown.length,
        limit,
      };
      if (!cluster) {
        sendJson(response, 200, body);
        return;
      }
      const books$ = body.perUser.map((book) => supervisor.userStats(book.userId, { cluster: true }));
      Promise.all([global(), ...books$]).then(([view, ...globals]) => {
        const perUserGlobal = body.perUser.map((book, i) => ({
          ...book,
          global: globals[i] as ClusterUserBook | undefined,
        }));
        sendJson(response, 200, { ...body, perUser: perUserGlobal, global: view });
      }, failed);
    });
  };
}
