/**
 * A deadline on every call to a `cluster.store` of the app's own (issue 12).
 *
 * The Redis store bounds its own commands (redis-deadlines.ts). A store on
 * another engine (Postgres, DynamoDB, a test double) is the app's code, and a
 * call that never settles would hold what waits on it for as long: an
 * admission holds its client's upgrade (the socket, the pending admission), a
 * renewal holds the lease actor in `renewing` while the lease runs out. So the
 * runtime bounds each call itself: past `cluster.commandTimeoutMs` (`start`
 * and `stop`, which may open or close connections, at least 1 s, as the Redis
 * store's connect) it rejects with a SlotStoreUnavailableError naming the
 * method and the ms, and the breaker and the outage policy take it from there,
 * as they take a rejection. Its late answer is dropped: what it may have done
 * is covered where the runtime already covers a call that failed after
 * reaching the store (an admission's pending release, a readmit's idempotent
 * retry at the next reconciliation); and an admission answered `admitted` late
 * goes to `bookedLate`, which releases it again: it may have landed after that
 * pending release was applied, and would hold its slot for the node's life.
 *
 * One Deadlines (one watchdog actor on the supervisor's clock, no timer per
 * call), owned by the cluster book and stopped with it. A store's own
 * rejection passes through as it came (the book reports a plain Error as
 * `slot store: <method> failed: <message>`).
 */
import type { ClusterDelivery } from './cluster-sends.js';
import type { Deadlines } from './redis-deadlines.js';
import type {
  EvictionOrder,
  HeldConnection,
  InstanceClaim,
  SendAcrossOutcome,
  SlotStore,
  SlotStoreEvents,
} from './slot-store.js';

/** The least deadline of `start` and `stop`, which may open or close a store's connections. */
const MIN_START_STOP_MS = 1_000;

/** The words of a bounded store's errors: `slot store: admit: no answer within 2000 ms`. */
export const STORE_DEADLINE_WORDS = {
  subject: 'slot store:',
  closing: 'the supervisor stopped before it answered',
  closed: 'the supervisor has stopped',
} as const;

/** What a call settled with: carried through Deadlines so that the store's own rejection is not rewrapped. */
type Settled<T> = { readonly value: T } | { readonly error: unknown };

/**
 * `store` with a deadline on each asynchronous call. Its methods are read at each call, not
 * captured: a test double may replace one on the store object after the supervisor started
 * (the optional ones are there or not as they were when the book was made).
 */
export function boundedStore(
  store: SlotStore,
  deadlines: Deadlines,
  /** An `admit` answered `admitted` after its deadline: the runtime had given up on it. */
  bookedLate: (userId: string, connectionId: string) => void,
): SlotStore {
  const startStopMs = Math.max(deadlines.timeoutMs, MIN_START_STOP_MS);
  const bound = <T>(
    what: string,
    call: () => Promise<T>,
    timeoutMs = deadlines.timeoutMs,
    late?: (value: T) => void,
  ): Promise<T> => {
    let settled: Promise<Settled<T>>;
    try {
      settled = Promise.resolve(call()).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
    } catch (error) {
      // A store that throws at once fails the call as one that rejects does.
      settled = Promise.resolve({ error });
    }
    return deadlines.watch(settled, what, timeoutMs).then(
      (outcome) => {
        if ('error' in outcome) throw outcome.error;
        return outcome.value;
      },
      (deadlineError: unknown) => {
        // Past the deadline (the store's own rejections come as outcomes): its answer, if
        // it ever comes, is the late one.
        if (late !== undefined) void settled.then((outcome) => 'value' in outcome && late(outcome.value));
        throw deadlineError;
      },
    );
  };
  const bounded: SlotStore = {
    get nodeId() {
      return store.nodeId;
    },
    get incarnation() {
      return store.incarnation;
    },
    start: (events: SlotStoreEvents) => bound('start', () => store.start(events), startStopMs),
    admit: (userId: string, connectionId: string, limit: number, evictAt: number, instance?: InstanceClaim) =>
      bound(
        'admit',
        // Four arguments without an instance, as before instances existed.
        () =>
          instance === undefined
            ? store.admit(userId, connectionId, limit, evictAt)
            : store.admit(userId, connectionId, limit, evictAt, instance),
        deadlines.timeoutMs,
        (answer) => {
          if ((answer as { admitted?: unknown } | null | undefined)?.admitted === true) {
            bookedLate(userId, connectionId);
          }
        },
      ),
    release: (userId: string, connectionId: string) =>
      bound('release', () => store.release(userId, connectionId)),
    setIdle: (userId: string, connectionId: string, idleSince: number | undefined, evictAt?: number) =>
      // Three arguments on a live edge, as before evictAt existed; the answer passed on as it is.
      bound('setIdle', async () =>
        evictAt === undefined
          ? await store.setIdle(userId, connectionId, idleSince)
          : await store.setIdle(userId, connectionId, idleSince, evictAt),
      ),
    orderEviction: (order: EvictionOrder) => bound('orderEviction', () => store.orderEviction(order)),
    readmit: (held: readonly HeldConnection[], limit: number) =>
      bound('readmit', () => store.readmit(held, limit)),
    renew: () => bound('renew', () => store.renew()),
    reap: () => bound('reap', () => store.reap()),
    userBook: (userId: string) => bound('userBook', () => store.userBook(userId)),
    // No argument but for a bounded read (the dashboard's), as the store was called before it had one.
    view: (limits) => bound('view', () => (limits === undefined ? store.view() : store.view(limits))),
    stop: () => bound('stop', () => store.stop(), startStopMs),
  };
  // The optional ones only where the store has them (the runtime reads their absence).
  // Synchronous, asked at every admission: no deadline to put on shardOf and shards.
  if (store.shardOf !== undefined) bounded.shardOf = (userId) => store.shardOf?.(userId);
  if (store.shards !== undefined) bounded.shards = () => store.shards?.();
  if (store.retirePrevious !== undefined) {
    bounded.retirePrevious = () => bound('retirePrevious', async () => store.retirePrevious?.());
  }
  if (store.sendAcross !== undefined) {
    bounded.sendAcross = (delivery: ClusterDelivery) =>
      bound('sendAcross', () => store.sendAcross?.(delivery) as Promise<number | SendAcrossOutcome>);
  }
  return bounded;
}
