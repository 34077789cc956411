/**
 * The connection registry (issue 11, item 1): lookups and sends over the
 * books the machines keep (books.ts), never over a map of its own. A user's
 * live connections are the ids its supervisor last published; a handle is
 * found by id in `books.handles`, which holds every connection from its
 * admission to its disposal. Each lookup is O(1); a send or a close is
 * O(connections it reaches).
 *
 * Every argument is checked before anything is allocated or sent: a bad one
 * throws WSSUP_INVALID_ARGUMENT.
 *
 * A room's members are `books.rooms` (rooms.ts): a send to a room is
 * O(members), never a walk over every connection.
 *
 * `{ cluster: true }` (cluster mode) also reaches the other processes: this
 * one's connections are served here, synchronously, and the store passes the
 * rest on (src/cluster/cluster-sends.ts). Every check is made first, so a bad
 * argument rejects before anything is sent here or anywhere.
 */
import type { Books, UserRecord } from './books.js';
import { APP_CLOSE_CODES, isAppCloseCode } from './close-code.js';
import type { ClusterDelivery } from './cluster/cluster-sends.js';
import type { ConnectionHandle, DeliveringHandle } from './connection-handle.js';
import { describeValue, SupervisorError } from './errors.js';
import { checkRoom } from './rooms.js';
import {
  assertFits,
  checkData,
  checkSendOptions,
  type MessageFit,
  refuseUnknownOptions,
  type SendData,
  sizeBeyond,
} from './send-arguments.js';
import { isThenable } from './thenable.js';
import { userIdArgumentError } from './user-id.js';

export type { SendData };

/** The options of sendToUser() (and the base of broadcast()'s and sendToRoom()'s). */
export interface SendOptions {
  /** Send as a binary frame. @default false for a string, true otherwise */
  binary?: boolean | undefined;
  /**
   * Socket.IO's `volatile`: `true` drops the message, instead of queueing it, for each
   * connection whose socket cannot take more (Node's `writableNeedDrain` on the socket
   * under ws while it still holds data, a peer not keeping up; not `bufferedAmount > 0`, which a deflate queue or a
   * TLS write in flight makes true for a peer keeping up), and the count
   * returned leaves those out. A slow reader then skips messages (a game's 20–30 Hz
   * updates) instead of its buffer growing toward `maxBufferedBytes` (close 4008). Not
   * with `{ cluster: true }`, which rejects it. @default false
   */
  volatile?: boolean | undefined;
}

/**
 * `{ cluster: true }` in cluster mode: the connections on every other process too (best
 * effort, over Redis pub/sub), and a Promise of a {@link ClusterSendResult}. Not part of
 * SendOptions, so that options typed as SendOptions keep the synchronous overload.
 */
export interface ClusterFlag {
  /** `true`: every live process too, and a Promise of a {@link ClusterSendResult}. @default false */
  cluster?: boolean | undefined;
}

/** The 4th argument of disconnectUser(): `{ cluster: true }` closes them on every process. */
export type DisconnectOptions = ClusterFlag;

/** What a `{ cluster: true }` send or disconnect resolves with. */
export interface ClusterSendResult {
  /** This process's connections reached, as the method returns without `cluster`. */
  delivered: number;
  /** Other processes told (one pub/sub message each); how many of their connections got it is not known here. */
  nodes: number;
  /**
   * Other processes concerned that could not be told (on a Redis Cluster, those whose channel's
   * master is away): 0 when every one was. They are not told again, and the ones counted in
   * `nodes` were: sending again reaches those twice. Reported to `onError` once per call.
   */
  unreached: number;
}

/** The options of sendToRoom(). */
export interface RoomSendOptions extends SendOptions {
  /**
   * A connection id left out (Socket.IO's `socket.to(room)`: every member but the sender).
   * An id that is not a member changes nothing.
   */
  except?: string | undefined;
}

/** `Data` is the supervisor's app data type, so that a filter reads `connection.data` without a cast. */
export interface BroadcastOptions<Data = unknown> extends SendOptions {
  /**
   * A connection id left out, as sendToRoom()'s `except` (Socket.IO's
   * `socket.broadcast.emit()`: everyone but the sender). Travels with `{ cluster: true }`,
   * as a filter cannot. An id of no open connection changes nothing.
   */
  except?: string | undefined;
  /**
   * Sends only to the connections for which it returns true (e.g. one plan's users; everyone
   * but the sender is `except`).
   * It runs on every connection before any is sent to: one that throws sends to no one, and
   * broadcast() throws its error as it is. Synchronous only: a Promise (an async filter)
   * sends to no one and throws WSSUP_INVALID_ARGUMENT. Any other truthy answer counts as
   * true, as for Array.prototype.filter.
   */
  filter?: ((connection: ConnectionHandle<Data>) => boolean) | undefined;
}

/** The registry methods of a Supervisor; documented there. */
export interface Registry {
  connectionsOf(userId: string): ConnectionHandle[];
  connection(connectionId: string): ConnectionHandle | undefined;
  sendToUser(
    userId: string,
    data: SendData,
    options?: SendOptions & ClusterFlag,
  ): number | Promise<ClusterSendResult>;
  broadcast(data: SendData, options?: BroadcastOptions & ClusterFlag): number | Promise<ClusterSendResult>;
  sendToRoom(
    room: string,
    data: SendData,
    options?: RoomSendOptions & ClusterFlag,
  ): number | Promise<ClusterSendResult>;
  roomMembers(room: string): ConnectionHandle[];
  roomSize(room: string): number;
  roomNames(): string[];
  disconnectUser(
    userId: string,
    code?: number,
    reason?: string,
    options?: DisconnectOptions,
  ): number | Promise<ClusterSendResult>;
  /**
   * Serves another process's cluster-wide send with this process's connections. Answers what
   * it refused, sending nothing: a message this process's maxBufferedBytes cannot hold (the
   * sender's is higher); the caller reports it.
   */
  deliver(delivery: ClusterDelivery): { method: string; size: number } | undefined;
}

/** Passes a cluster-wide send on to the other processes; resolves with how many were told, and not. */
export type SendAcross = (delivery: ClusterDelivery) => Promise<Omit<ClusterSendResult, 'delivered'>>;

const invalid = (message: string) => new SupervisorError('WSSUP_INVALID_ARGUMENT', message);

/** `userId` if it is a valid id; else throws, naming `method`. */
function checkedUserId(method: string, userId: unknown): string {
  const error = userIdArgumentError(method, userId);
  if (error !== undefined) throw error;
  return userId as string;
}

/** An app's close code (close-code.ts) and a reason of at most 123 UTF-8 bytes, as ConnectionHandle.close() accepts. */
function checkClose(code: unknown, reason: unknown): void {
  if (!isAppCloseCode(code)) {
    // disconnectUser(userId, { cluster: true }): the options put where the code goes.
    const hint =
      typeof code === 'object' && code !== null && !Array.isArray(code)
        ? ': the options are the 4th argument, disconnectUser(userId, code, reason, { cluster: true })'
        : '';
    throw invalid(`close code must be ${APP_CLOSE_CODES}, got ${describeValue(code)}${hint}`);
  }
  if (typeof reason !== 'string' || Buffer.byteLength(reason) > 123)
    throw invalid('close reason must be a string of at most 123 bytes');
}

/** `options.cluster`, read before the other checks: a non-boolean leaves the overload unknown, so it throws. */
function clusterFlag(options: unknown): boolean {
  if (typeof options !== 'object' || options === null) return false; // refused by the usual checks
  const { cluster } = options as { cluster?: unknown };
  if (cluster !== undefined && typeof cluster !== 'boolean')
    throw invalid('options.cluster must be a boolean');
  return cluster === true;
}

const ROOM_SEND_KEYS: readonly string[] = ['binary', 'volatile', 'except', 'cluster'];
const USER_SEND_KEYS: readonly string[] = ['binary', 'volatile', 'cluster'];
const BROADCAST_KEYS: readonly string[] = ['binary', 'volatile', 'except', 'filter', 'cluster'];
const DISCONNECT_KEYS: readonly string[] = ['cluster'];

type CheckedSendOptions = { binary?: boolean; volatile?: boolean } | undefined;

/**
 * `{ cluster: true, volatile: true }`: refused, not carried. Another process cannot tell
 * whether the sender meant its message as droppable (one predating the option would queue
 * it), and a message relayed through Redis is no tick of a local game loop.
 */
function refuseClusterVolatile(method: string, sendOptions: CheckedSendOptions): void {
  if (sendOptions?.volatile === true)
    throw invalid(
      `${method}: volatile cannot be combined with cluster: true (only this process knows its sockets' buffers); send volatile messages per process, without cluster`,
    );
}

/** sendToRoom()'s options, checked and copied: unknown keys are refused, so `exept` cannot pass unseen. */
function checkRoomSendOptions(options: unknown): {
  sendOptions: CheckedSendOptions;
  except: string | undefined;
} {
  const sendOptions = checkSendOptions(options);
  if (options === undefined) return { sendOptions, except: undefined };
  refuseUnknownOptions('sendToRoom', options, ROOM_SEND_KEYS);
  return { sendOptions, except: checkExcept('sendToRoom', options) };
}

/**
 * sendToRoom()'s and broadcast()'s `except`, after the unknown-key check: a connection id.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT `<method>: options.except must be a connection id (a string), got …`.
 */
function checkExcept(method: string, options: unknown): string | undefined {
  if (options === undefined) return undefined;
  const { except } = options as { except?: unknown };
  if (except !== undefined && typeof except !== 'string')
    throw invalid(
      `${method}: options.except must be a connection id (a string), got ${
        isHandleLike(except) ? 'a connection handle: pass connection.id' : describeValue(except)
      }`,
    );
  return except;
}

/**
 * What broadcast() throws for a filter's answer that is a Promise or another thenable: an
 * async filter, whose answer is always truthy and comes too late to choose. Its rejection,
 * if it ever rejects, is handled here (left unhandled, it would end the process under
 * Node's defaults): the throw is the report.
 */
function asyncFilterError(answer: PromiseLike<unknown>): SupervisorError {
  // Not answer.then(): a thenable's own `then` may throw. Promise.resolve calls it later, caught.
  Promise.resolve(answer).catch(() => {});
  return invalid(
    `broadcast: options.filter must be synchronous and return a boolean, got ${describeValue(answer)} (an async filter?); nothing was sent`,
  );
}

/** A connection handle passed where its id belongs (Socket.IO habit: the socket itself). */
function isHandleLike(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const { id, send } = value as { id?: unknown; send?: unknown };
  return typeof id === 'string' && typeof send === 'function';
}

/** What travels: a copy, so that the app may reuse its buffer once the call returns. */
function toWire(data: SendData): string | Buffer {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return Buffer.from(new Uint8Array(data));
  return Buffer.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/**
 * @param fit the largest message a connection's send buffer holds (maxBufferedBytes): a
 *   larger one is refused before anything is sent.
 * @param across the store's relay in cluster mode; otherwise why there is none
 *   (no cluster option, or a store without sendAcross), which `{ cluster: true }`
 *   rejects with before anything is sent.
 */
export function createRegistry(
  books: Books,
  users: ReadonlyMap<string, UserRecord>,
  fit: MessageFit,
  across: SendAcross | string = '{ cluster: true } needs the cluster option of createSupervisor()',
): Registry {
  /** The user's live ids as last published: the supervisor's own list, replaced (never mutated) on change. */
  const liveIdsOf = (userId: string) => users.get(userId)?.liveIds ?? [];

  function handlesOf(ids: readonly string[]): ConnectionHandle[] {
    const handles: ConnectionHandle[] = [];
    for (const id of ids) {
      const handle = books.handles.get(id);
      if (handle !== undefined) handles.push(handle);
    }
    return handles;
  }

  /**
   * Sends to each of `ids` but `except`; a send may close its own connection (slow consumer),
   * never the list.
   */
  function sendTo(
    ids: readonly string[],
    data: SendData,
    options: CheckedSendOptions,
    except?: string | undefined,
  ): number {
    let sent = 0;
    // Data and options checked once by the caller, for every recipient.
    const binary = options?.binary;
    const volatile = options?.volatile === true;
    for (const id of ids) {
      if (id === except) continue;
      const handle = books.handles.get(id);
      if (handle?.sendChecked(data, binary, volatile) === true) sent += 1;
    }
    return sent;
  }

  function closeAll(ids: readonly string[], code: number, reason: string): number {
    // Each close steps the user's supervisor, which publishes a new list; this one stays as it was.
    const handles = handlesOf(ids);
    for (const handle of handles) handle.close(code, reason);
    return handles.length;
  }

  /**
   * A `{ cluster: true }` call: `prepare` makes every check (and throws) before
   * anything is sent; then this process's part, then the other processes'.
   */
  function clusterWide(prepare: () => [() => number, ClusterDelivery]): Promise<ClusterSendResult> {
    let local: () => number;
    let delivery: ClusterDelivery;
    try {
      [local, delivery] = prepare();
      if (typeof across === 'string') throw invalid(across);
    } catch (error) {
      return Promise.reject(error);
    }
    const delivered = local();
    return (across as SendAcross)(delivery).then(({ nodes, unreached }) => ({ delivered, nodes, unreached }));
  }

  /** sendToUser's checks, all made before anything is sent: the user's live ids and the send options. */
  function checkedUserSend(userId: unknown, data: SendData, options: unknown) {
    const ids = liveIdsOf(checkedUserId('sendToUser', userId));
    checkData(data);
    const sendOptions = checkSendOptions(options);
    refuseUnknownOptions('sendToUser', options, USER_SEND_KEYS);
    assertFits('sendToUser', data, fit);
    return { ids, sendOptions };
  }

  function sendToUser(userId: unknown, data: SendData, options: unknown): number {
    const { ids, sendOptions } = checkedUserSend(userId, data, options);
    return sendTo(ids, data, sendOptions);
  }

  /** disconnectUser's checks, all made before anything is closed: the user's live ids. */
  function checkedDisconnect(
    userId: unknown,
    code: number,
    reason: string,
    options: unknown,
  ): readonly string[] {
    const ids = liveIdsOf(checkedUserId('disconnectUser', userId));
    checkClose(code, reason);
    // A misspelt `cluster` ({ clustr: true }) disconnected on this process only.
    refuseUnknownOptions('disconnectUser', options, DISCONNECT_KEYS);
    return ids;
  }

  /** The members of `room` but `except`: O(members), whatever the number of connections. */
  function sendToRoom(room: unknown, data: SendData, options: unknown): number {
    checkRoom('sendToRoom', room);
    checkData(data);
    const { sendOptions, except } = checkRoomSendOptions(options);
    assertFits('sendToRoom', data, fit);
    const members = books.rooms.membersOf(room);
    if (members === undefined) return 0;
    let sent = 0;
    const binary = sendOptions?.binary;
    const volatile = sendOptions?.volatile === true;
    // A send may end in its own connection's drain (an overflow), which takes it out of the set
    // being walked: Set iteration survives that, and a member who left is not visited.
    // Data and options were checked above, once for every member.
    for (const member of members) {
      if (member.id !== except && member.sendChecked(data, binary, volatile)) sent += 1;
    }
    return sent;
  }

  /** broadcast()'s checks, all made before anything is sent: data, options (`except` too) and size. */
  function checkedBroadcast(data: SendData, options: unknown) {
    checkData(data);
    const sendOptions = checkSendOptions(options);
    refuseUnknownOptions('broadcast', options, BROADCAST_KEYS);
    const except = checkExcept('broadcast', options);
    assertFits('broadcast', data, fit);
    return { sendOptions, except };
  }

  /** Every open connection but `except` (those `options.filter` accepts). */
  function broadcast(data: SendData, options: (BroadcastOptions & ClusterFlag) | undefined): number {
    const { sendOptions, except } = checkedBroadcast(data, options);
    const filter = options?.filter;
    if (filter !== undefined && typeof filter !== 'function')
      throw invalid('options.filter must be a function');
    return broadcastChecked(data, sendOptions, except, filter);
  }

  /** broadcast() once checked: also serves another process's cluster-wide broadcast. */
  function broadcastChecked(
    data: SendData,
    sendOptions: CheckedSendOptions,
    except: string | undefined,
    filter?: ((connection: ConnectionHandle) => boolean) | undefined,
  ): number {
    let sent = 0;
    if (filter === undefined) {
      for (const record of users.values()) sent += sendTo(record.liveIds, data, sendOptions, except);
      return sent;
    }
    // The filter is the app's argument, so it runs on every connection before any is sent to:
    // one that throws sends nothing (its error escapes as it is), and so does one that answers
    // a Promise. The array costs far less than the sends.
    const chosen: DeliveringHandle[] = [];
    for (const record of users.values()) {
      for (const id of record.liveIds) {
        if (id === except) continue; // not asked: it is left out whatever the filter answers
        const handle = books.handles.get(id);
        if (handle === undefined) continue;
        const keep: unknown = filter(handle);
        if (keep === true) chosen.push(handle);
        else if (keep !== false && keep) {
          // A truthy answer counts, as for Array.prototype.filter; but a Promise is always truthy.
          if (isThenable(keep)) throw asyncFilterError(keep);
          chosen.push(handle);
        }
      }
    }
    const binary = sendOptions?.binary;
    const volatile = sendOptions?.volatile === true;
    for (const handle of chosen) if (handle.sendChecked(data, binary, volatile)) sent += 1;
    return sent;
  }

  return {
    // Options (`{ cluster: true }`, a habit from the sends) would be ignored, and this process's
    // connections taken for every process's: refused instead. Only an object: `ids.map(
    // supervisor.connectionsOf)` passes an index, which it always ignored.
    connectionsOf: (userId: string, options?: unknown) => {
      if (typeof options === 'object' && options !== null)
        throw invalid(
          "connectionsOf(userId) takes no options: it lists this process's connections only (handles exist on their own process); across the cluster, userStats(userId, { cluster: true }) counts them per node",
        );
      return handlesOf(liveIdsOf(checkedUserId('connectionsOf', userId)));
    },

    connection: (connectionId) => {
      if (typeof connectionId !== 'string') throw invalid('connection id must be a string');
      return books.handles.get(connectionId);
    },

    sendToUser: (userId, data, options) => {
      if (!clusterFlag(options)) return sendToUser(userId, data, options);
      return clusterWide(() => {
        const { ids, sendOptions } = checkedUserSend(userId, data, options);
        refuseClusterVolatile('sendToUser', sendOptions);
        const binary = sendOptions?.binary === undefined ? {} : { binary: sendOptions.binary };
        return [
          () => sendTo(ids, data, sendOptions),
          { kind: 'send', userId, data: toWire(data), ...binary },
        ];
      });
    },

    broadcast: (data, options) => {
      if (!clusterFlag(options)) return broadcast(data, options);
      return clusterWide(() => {
        const { sendOptions, except } = checkedBroadcast(data, options);
        refuseClusterVolatile('broadcast', sendOptions);
        // A function cannot travel: each process would need the app's own predicate.
        if (options?.filter !== undefined)
          throw invalid('options.filter cannot be combined with cluster: true (it runs in one process only)');
        const binary = sendOptions?.binary === undefined ? {} : { binary: sendOptions.binary };
        // One of this process's connections (the sender, usually) is on no other: `except` then
        // stays here, and a process predating broadcast's except (which ignores the field, and
        // would send to everyone) serves it right all the same. An id minted once lives on one process.
        const exceptOne = except === undefined || books.handles.has(except) ? {} : { except };
        return [
          () => broadcastChecked(data, sendOptions, except),
          { kind: 'broadcast', data: toWire(data), ...binary, ...exceptOne },
        ];
      });
    },

    sendToRoom: (room, data, options) => {
      if (!clusterFlag(options)) return sendToRoom(room, data, options);
      return clusterWide(() => {
        checkRoom('sendToRoom', room);
        checkData(data);
        const { sendOptions, except } = checkRoomSendOptions(options);
        refuseClusterVolatile('sendToRoom', sendOptions);
        assertFits('sendToRoom', data, fit);
        const binary = sendOptions?.binary === undefined ? {} : { binary: sendOptions.binary };
        const exceptOne = except === undefined ? {} : { except };
        return [
          () => sendToRoom(room, data, options),
          { kind: 'room', room, data: toWire(data), ...binary, ...exceptOne },
        ];
      });
    },

    roomMembers: (room: string, options?: unknown) => {
      if (typeof options === 'object' && options !== null)
        throw invalid(
          "roomMembers(room) takes no options: it lists this process's members only; sendToRoom(room, data, { cluster: true }) reaches the members on every process",
        );
      checkRoom('roomMembers', room);
      const members = books.rooms.membersOf(room);
      return members === undefined ? [] : [...members];
    },

    roomSize: (room: string, options?: unknown) => {
      if (typeof options === 'object' && options !== null)
        throw invalid(
          "roomSize(room) takes no options: it counts this process's members only; sendToRoom(room, data, { cluster: true }) reaches the members on every process",
        );
      checkRoom('roomSize', room);
      return books.rooms.membersOf(room)?.size ?? 0;
    },

    roomNames: (...args: unknown[]) => {
      if (args.some((arg) => arg !== undefined))
        throw invalid(
          'roomNames() takes no arguments: it lists the rooms with members on this process; sendToRoom(room, data, { cluster: true }) reaches the members on every process',
        );
      return [...books.rooms.names()];
    },

    disconnectUser: (userId, code = 1000, reason = '', options = undefined) => {
      if (options !== undefined && (typeof options !== 'object' || options === null))
        throw invalid('disconnectUser options must be an object { cluster? }');
      if (!clusterFlag(options))
        return closeAll(checkedDisconnect(userId, code, reason, options), code, reason);
      return clusterWide(() => {
        const ids = checkedDisconnect(userId, code, reason, options);
        return [() => closeAll(ids, code, reason), { kind: 'disconnect', userId, code, reason }];
      });
    },

    deliver: (delivery) => {
      if (delivery.kind === 'disconnect') {
        checkClose(delivery.code, delivery.reason);
        closeAll(liveIdsOf(delivery.userId), delivery.code, delivery.reason);
        return undefined;
      }
      // Checked against the sender's maxBufferedBytes; this process's may be smaller (reported).
      const size = sizeBeyond(delivery.data, fit);
      if (size !== undefined)
        return {
          method:
            delivery.kind === 'send' ? 'sendToUser' : delivery.kind === 'room' ? 'sendToRoom' : 'broadcast',
          size,
        };
      const options = delivery.binary === undefined ? undefined : { binary: delivery.binary };
      if (delivery.kind === 'send') sendTo(liveIdsOf(delivery.userId), delivery.data, options);
      else if (delivery.kind === 'room') {
        const except = delivery.except === undefined ? {} : { except: delivery.except };
        sendToRoom(delivery.room, delivery.data, { ...options, ...except });
      } else broadcastChecked(delivery.data, options, delivery.except);
      return undefined;
    },
  };
}
