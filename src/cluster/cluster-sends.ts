/**
 * Cluster-wide sends (sendToUser, disconnectUser, broadcast and sendToRoom with
 * `{ cluster: true }`): what travels to the other processes, and whom it
 * goes to. Best effort, as Socket.IO's Redis adapter: one sharded pub/sub
 * message per other live process, on the channel that carries its eviction
 * orders (redis-keys.ts, `orders`), never queued nor acknowledged.
 *
 * A message is JSON without a `connectionId` (which an eviction order has), and
 * `v` the store format it is written in (store-format.ts): a node drops, and
 * reports, a message of another format, whatever else it holds:
 *
 * ```
 * {"v":1,"kind":"send","nodeId":"web-2","incarnation":42,"userId":"ann","text":"hi"}
 * {"v":1,"kind":"send","nodeId":"web-2","incarnation":42,"userId":"ann","base64":"AP8B","binary":true}
 * {"v":1,"kind":"disconnect","nodeId":"web-2","incarnation":42,"userId":"ann","code":4000,"reason":"banned"}
 * {"v":1,"kind":"broadcast","nodeId":"web-3","incarnation":43,"text":"maintenance at 22:00"}
 * {"v":1,"kind":"broadcast","nodeId":"web-3","incarnation":43,"text":"hi","except":"0193…"}
 * {"v":1,"kind":"room","nodeId":"web-3","incarnation":43,"room":"lobby","text":"hi","except":"0193…"}
 * ```
 *
 * A room message goes to every live process, as a broadcast does (rooms are
 * each process's own, not in Redis); each sends it to its local members. A
 * node that predates rooms drops it (an unknown kind), and has no members anyway.
 *
 * A broadcast carries `except` only when the connection it names is not the
 * sender's own (its id was minted on one process, and lives on no other): a
 * node that predates broadcast's `except` ignores the field, and would send to
 * that connection, so the usual call (the sender's own connection) reaches it
 * without one.
 *
 * `nodeId` and `incarnation` name the receiving process: it acts only if the
 * incarnation is its current one (fenced as eviction orders are).
 *
 * Each message succeeds or fails on its own (on a Redis Cluster, with the master
 * of its channel): the store answers how many were told and how many were not
 * (publishEach), and fails only when it cannot read whom to tell.
 */
import type { RedisConnection } from './redis-client.js';
import { decodeEntry, type Registry } from './redis-decode.js';
import type { KeyLayout } from './redis-keys.js';
import type { SendAcrossOutcome } from './slot-store.js';
import { STORE_FORMAT } from './store-format.js';

/** What a cluster-wide send asks the other processes to do with their own connections. */
export type ClusterDelivery =
  | {
      /** `sendToUser(userId, data, { cluster: true })`: each other process holding the user's connections sends them `data`. */
      kind: 'send';
      /** The user whose connections get it. */
      userId: string;
      /** The message, as the sender gave it. */
      data: string | Buffer;
      /** Send it as a binary frame (the sender's `binary` option). */
      binary?: boolean;
    }
  | {
      /** `disconnectUser(userId, code, reason, { cluster: true })`: each of them closes the user's connections. */
      kind: 'disconnect';
      /** The user whose connections are closed. */
      userId: string;
      /** The close code each of them gets. */
      code: number;
      /** The close reason each of them gets. */
      reason: string;
    }
  | {
      /** `broadcast(data, { cluster: true })`: every other live process sends `data` to all its connections (but `except`). */
      kind: 'broadcast';
      /** The message, as the sender gave it. */
      data: string | Buffer;
      /** Send it as a binary frame (the sender's `binary` option). */
      binary?: boolean;
      /** A connection id left out (the sender's `except`), when it is not one of the sender's own connections. */
      except?: string;
    }
  | {
      /** `sendToRoom(room, data, { cluster: true })`: every other live process sends to its own members of `room` (but `except`). */
      kind: 'room';
      /** The room whose members get it. */
      room: string;
      /** The message, as the sender gave it. */
      data: string | Buffer;
      /** Send it as a binary frame (the sender's `binary` option). */
      binary?: boolean;
      /** A connection id left out (the sender's `except`: the connection that sent it, say). */
      except?: string;
    };

/** A live process: where to publish, and the incarnation that may act on it. */
export interface SendTarget {
  nodeId: string;
  incarnation: number;
}

/** What the store knows of the cluster, lent to publishAcross. */
export interface StoreView {
  /** Reads the node registry (and refreshes the store's liveness snapshot). */
  registry(): Promise<Registry>;
  isDead(incarnation: number): boolean;
  /** This process's incarnations, current and older: never sent to. */
  own: readonly number[];
}

/**
 * Publishes `delivery` to every other live process concerned; resolves with how many,
 * or with both counts when some (or all) could not be told (see publishEach); rejects
 * when the processes concerned cannot be read.
 * One round trip for the targets (the user's book, or the registry), one for the SPUBLISHes,
 * which the client writes together.
 */
export async function publishAcross(
  connection: RedisConnection,
  keys: KeyLayout,
  delivery: ClusterDelivery,
  store: StoreView,
): Promise<number | SendAcrossOutcome> {
  connection.roundTrip('sendAcross');
  const targets =
    delivery.kind === 'broadcast' || delivery.kind === 'room'
      ? liveProcesses(await store.registry())
      : holdersOf(
          (await connection.command(['HVALS', keys.user(delivery.userId)])) as string[],
          store.isDead,
        );
  // This process's connections were served locally; its older incarnations are dead.
  const others = targets.filter((target) => !store.own.includes(target.incarnation));
  if (others.length === 0) return 0;
  connection.roundTrip('sendAcross');
  return publishEach(others, (to) =>
    connection.command(['SPUBLISH', keys.orders(to.nodeId), encodeDelivery(delivery, to)]),
  );
}

/**
 * Runs `publish` for every target, together, and waits for all of them: a number when every
 * one succeeded; the counts and the first failure when some failed, or all did. On a Redis
 * Cluster each target's channel lives on one master, so one master away fails only its own
 * targets, and the others were told all the same: a rejection then would lead an app that
 * retries to send them everything twice. When all failed it resolves too (`nodes` 0), so
 * that the runtime tells their channels' failure from the store's (a rejection: the targets
 * could not be read), which alone counts against the sends' breaker (ClusterBook.sendAcross).
 *
 * Counted by hand rather than with Promise.allSettled: one shared pair of handlers, and no
 * settled-result object per target (a broadcast's cost grows with the processes).
 */
function publishEach<T>(
  targets: readonly T[],
  publish: (target: T) => Promise<unknown>,
): Promise<number | SendAcrossOutcome> {
  return new Promise((resolve) => {
    let pending = targets.length;
    let failed = 0;
    let cause: unknown;
    const settled = () => {
      pending -= 1;
      if (pending > 0) return;
      if (failed === 0) resolve(targets.length);
      else resolve({ nodes: targets.length - failed, unreached: failed, cause });
    };
    const failure = (error: unknown) => {
      if (failed === 0) cause = error;
      failed += 1;
      settled();
    };
    if (pending === 0) resolve(0);
    for (const target of targets) publish(target).then(settled, failure);
  });
}

/** The processes holding entries of the user's book (its HVALS), dead incarnations left out; one per incarnation. */
function holdersOf(values: readonly string[], isDead: (incarnation: number) => boolean): SendTarget[] {
  const targets = new Map<number, SendTarget>();
  for (const value of values) {
    const entry = decodeEntry(value);
    if (entry === undefined || isDead(entry.incarnation) || targets.has(entry.incarnation)) continue;
    targets.set(entry.incarnation, { nodeId: entry.nodeId, incarnation: entry.incarnation });
  }
  return [...targets.values()];
}

/** Every process whose lease had not expired when the registry was read. */
function liveProcesses(registry: Registry): SendTarget[] {
  return registry.leases
    .filter((lease) => lease.expiresAt >= registry.now)
    .map(({ nodeId, incarnation }) => ({ nodeId, incarnation }));
}

/** The message for one process. Binary data goes as base64: the channel carries JSON text. */
function encodeDelivery(delivery: ClusterDelivery, to: SendTarget): string {
  const head = { v: STORE_FORMAT, kind: delivery.kind, nodeId: to.nodeId, incarnation: to.incarnation };
  if (delivery.kind === 'disconnect') return JSON.stringify({ ...head, ...delivery });
  const { data, binary } = delivery;
  const payload = typeof data === 'string' ? { text: data } : { base64: data.toString('base64') };
  return JSON.stringify({
    ...head,
    ...(delivery.kind === 'send' ? { userId: delivery.userId } : {}),
    ...(delivery.kind === 'room' ? { room: delivery.room } : {}),
    ...payload,
    ...((delivery.kind === 'room' || delivery.kind === 'broadcast') && delivery.except !== undefined
      ? { except: delivery.except }
      : {}),
    ...(binary === undefined ? {} : { binary }),
  });
}

/**
 * A message of the channel as a delivery for `nodeId`, or undefined when it is
 * none (an eviction order, another store format's, a kind this version does not
 * know, or malformed).
 */
export function decodeDelivery(message: unknown): (SendTarget & { delivery: ClusterDelivery }) | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const m = message as Record<string, unknown>;
  if (m.v !== STORE_FORMAT) return undefined;
  if (typeof m.nodeId !== 'string' || typeof m.incarnation !== 'number') return undefined;
  const to = { nodeId: m.nodeId, incarnation: m.incarnation };
  if (m.kind === 'disconnect') {
    if (typeof m.userId !== 'string' || typeof m.code !== 'number' || typeof m.reason !== 'string')
      return undefined;
    return { ...to, delivery: { kind: 'disconnect', userId: m.userId, code: m.code, reason: m.reason } };
  }
  if (m.kind !== 'send' && m.kind !== 'broadcast' && m.kind !== 'room') return undefined;
  const data =
    typeof m.text === 'string'
      ? m.text
      : typeof m.base64 === 'string'
        ? Buffer.from(m.base64, 'base64')
        : undefined;
  if (data === undefined || (m.binary !== undefined && typeof m.binary !== 'boolean')) return undefined;
  const binary = m.binary === undefined ? {} : { binary: m.binary };
  if ((m.kind === 'broadcast' || m.kind === 'room') && m.except !== undefined && typeof m.except !== 'string')
    return undefined;
  const except = typeof m.except === 'string' ? { except: m.except } : {};
  if (m.kind === 'broadcast') return { ...to, delivery: { kind: 'broadcast', data, ...binary, ...except } };
  if (m.kind === 'room') {
    if (typeof m.room !== 'string') return undefined;
    return { ...to, delivery: { kind: 'room', room: m.room, data, ...binary, ...except } };
  }
  if (typeof m.userId !== 'string') return undefined;
  return { ...to, delivery: { kind: 'send', userId: m.userId, data, ...binary } };
}
