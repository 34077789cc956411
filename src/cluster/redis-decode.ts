/**
 * Decodes what the slot store's scripts return (RESP2 arrays of strings and
 * integers) into the interface's types, and a book entry's packed value.
 * A reply of the wrong shape is a store failure, not a crash.
 */
import {
  type ClusterAdmission,
  type EvictionOrder,
  type InstanceClaim,
  SlotStoreUnavailableError,
} from './slot-store.js';

/** Which incarnations a snapshot of the registry calls alive (see redis-scripts.ts). */
export interface Liveness {
  maxIncarnation: number;
  live: number[];
}

export interface BookEntry {
  incarnation: number;
  admittedAt: number;
  /** Undefined while live, and once evicted. */
  idleSince: number | undefined;
  /** Named for eviction, its node not done yet: it still holds its slot (see the admit script). */
  evicting: boolean;
  /** Why it was named, while `evicting`: its mark, `e<ms>` (idle) or `s<ms>` (superseded). */
  cause?: 'idle' | 'superseded';
  nodeId: string;
  /** The client instance it was booked with (absent for none, and for a stale attempt). */
  instance?: InstanceClaim;
}

export interface Lease {
  incarnation: number;
  /** Epoch ms on Redis's clock. */
  expiresAt: number;
  nodeId: string;
}

export interface Registry {
  now: number;
  maxIncarnation: number;
  leases: Lease[];
}

export interface Renewal {
  status: 'renewed' | 'lost';
  incarnation: number;
  now: number;
  /** The run_id of the Redis server that ran it; '' when it denies INFO. */
  runId: string;
  liveness: Liveness;
}

/** Node ids hold no `|` (redis-store-input.ts): what follows the node is the instance. */
const ENTRY = /^(\d+)\|(\d+)\|([es]?\d*)\|([^|]*)(?:\|(.*))?$/s;
const INSTANCE = /^(.+)\.(\d+)$/s;

/**
 * `<incarnation>|<admittedAt>|<idleSince>|<nodeId>`, then `|<id>.<attemptAt>` for an entry
 * booked with its client instance; `idleSince` is empty while live, `e<ms>` once marked evicted
 * by the eviction rule, `s<ms>` once superseded. Undefined for a value this store did not write.
 */
export function decodeEntry(value: string): BookEntry | undefined {
  const match = ENTRY.exec(value);
  if (match === null) return undefined;
  const [, incarnation, admittedAt, idleSince, nodeId, instance] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  const mark = idleSince[0];
  const evicting = mark === 'e' || mark === 's';
  const entry: BookEntry = {
    incarnation: Number(incarnation),
    admittedAt: Number(admittedAt),
    idleSince: idleSince === '' || evicting ? undefined : Number(idleSince),
    evicting,
    nodeId,
  };
  if (evicting) entry.cause = mark === 's' ? 'superseded' : 'idle';
  if (instance !== undefined && instance !== '') {
    const claim = INSTANCE.exec(instance);
    if (claim === null) return undefined;
    entry.instance = { id: claim[1] as string, attemptAt: Number(claim[2]) };
  }
  return entry;
}

export function decodeAdmission(reply: unknown): ClusterAdmission | 'late' | 'moved' {
  const items = asArray(reply, 'admit');
  const [status, live] = items;
  if (status === 'late' || status === 'moved') return status;
  if (status === 'duplicate') return { admitted: false, reason: 'duplicate-connection', live: Number(live) };
  if (status !== 'admitted' && status !== 'refused') throw malformed('admit', reply);
  const evict = ordersFrom(items, 2, 'admit');
  if (status === 'admitted') return { admitted: true, evict, live: Number(live) };
  // Refused with orders: the user's evicted entries still booked, named again.
  return evict.length === 0
    ? { admitted: false, reason: 'user-limit', live: Number(live) }
    : { admitted: false, reason: 'user-limit', live: Number(live), evict };
}

/**
 * The setIdle script's answer: {0} (nothing written), {1, orders...} (written), or {0, orders...}
 * (an idle edge of an entry already marked evicted: nothing written, the marked entries named
 * again), the orders as admit's; 'moved' for {'moved'} (another server answers, nothing written).
 */
export function decodeIdleOrders(reply: unknown): EvictionOrder[] | 'moved' {
  const items = asArray(reply, 'setIdle');
  const [status] = items;
  if (status === 'moved' && items.length === 1) return status;
  if (Number(status) !== 0 && Number(status) !== 1) throw malformed('setIdle', reply);
  return ordersFrom(items, 1, 'setIdle');
}

/**
 * The readmit script's answer for one user: {n, the n ids refused..., orders...}, the orders
 * as admit's (the superseded entries); 'moved' for -1 (another server answers, nothing written).
 */
export function decodeReadmit(reply: unknown): { refused: string[]; evict: EvictionOrder[] } | 'moved' {
  if (reply === -1) return 'moved';
  const items = asArray(reply, 'readmit');
  const n = Number(items[0]);
  if (!Number.isSafeInteger(n) || n < 0 || items.length < n + 1) throw malformed('readmit', reply);
  return { refused: items.slice(1, n + 1).map(String), evict: ordersFrom(items, n + 1, 'readmit') };
}

/**
 * The eviction orders a script lists from `start` on, four items each: connection id, node,
 * incarnation, cause (`idle`, or `superseded`: see the admit script). Another cause, or a
 * list cut short, is a reply this store did not write: a failure, as any malformed reply.
 */
function ordersFrom(items: readonly unknown[], start: number, script: string): EvictionOrder[] {
  if ((items.length - start) % 4 !== 0) throw malformed(script, items);
  const orders: EvictionOrder[] = [];
  for (let i = start; i + 3 < items.length; i += 4) {
    const cause = items[i + 3];
    if (cause !== 'idle' && cause !== 'superseded') throw malformed(script, items);
    orders.push({
      connectionId: String(items[i]),
      nodeId: String(items[i + 1]),
      incarnation: Number(items[i + 2]),
      cause,
    });
  }
  return orders;
}

/** The renew script found another store format in the marker key, and wrote nothing. */
export interface ForeignFormat {
  status: 'format';
  /** What the marker key holds. */
  found: string;
}

/**
 * The renew script ran at or after the renewal's deadline, and wrote nothing (a renewal its
 * caller may have given up on must not take an incarnation nobody holds): Redis's TIME then.
 */
export interface LateRenewal {
  status: 'late';
  now: number;
}

export function decodeRenewal(reply: unknown): Renewal | ForeignFormat | LateRenewal {
  const items = asArray(reply, 'renew');
  const [status, incarnation, now, maxIncarnation, runId, ...live] = items;
  if (status === 'format') {
    if (items.length !== 2 || typeof incarnation !== 'string') throw malformed('renew', reply);
    return { status, found: incarnation };
  }
  if (status === 'late') {
    const at = Number(incarnation);
    if (items.length !== 2 || !Number.isFinite(at)) throw malformed('renew', reply);
    return { status, now: at };
  }
  if (status !== 'renewed' && status !== 'lost') throw malformed('renew', reply);
  if (typeof runId !== 'string') throw malformed('renew', reply);
  return {
    status,
    incarnation: Number(incarnation),
    now: Number(now),
    runId,
    liveness: { maxIncarnation: Number(maxIncarnation), live: live.map(Number) },
  };
}

export function decodeRegistry(reply: unknown): Registry {
  const items = asArray(reply, 'registry');
  const leases: Lease[] = [];
  for (let i = 2; i + 2 < items.length; i += 3) {
    leases.push({
      incarnation: Number(items[i]),
      expiresAt: Number(items[i + 1]),
      nodeId: String(items[i + 2]),
    });
  }
  return { now: Number(items[0]), maxIncarnation: Number(items[1]), leases };
}

function asArray(reply: unknown, script: string): unknown[] {
  if (!Array.isArray(reply)) throw malformed(script, reply);
  return reply;
}

const malformed = (script: string, reply: unknown) =>
  new SlotStoreUnavailableError(`Redis answered the ${script} script with ${JSON.stringify(reply)}`);
