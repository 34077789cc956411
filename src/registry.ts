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
 */
import type { Books, UserRecord } from './books.js';
import type { ConnectionHandle } from './connection-handle.js';
import { SupervisorError } from './errors.js';
import { checkData, checkSendOptions, type SendData } from './send-arguments.js';
import { checkUserId } from './user-id.js';

export type { SendData };

export interface SendOptions {
  /** Send as a binary frame. @default false for a string, true otherwise */
  binary?: boolean | undefined;
}

/** `Data` is the supervisor's app data type, so that a filter reads `connection.data` without a cast. */
export interface BroadcastOptions<Data = unknown> extends SendOptions {
  /** Sends only to the connections for which it returns true (e.g. everyone but the sender). */
  filter?: ((connection: ConnectionHandle<Data>) => boolean) | undefined;
}

/** The registry methods of a Supervisor; documented there. */
export interface Registry {
  connectionsOf(userId: string): ConnectionHandle[];
  connection(connectionId: string): ConnectionHandle | undefined;
  sendToUser(userId: string, data: SendData, options?: SendOptions): number;
  broadcast(data: SendData, options?: BroadcastOptions): number;
  disconnectUser(userId: string, code?: number, reason?: string): number;
}

const invalid = (message: string) => new SupervisorError('WSSUP_INVALID_ARGUMENT', message);

function checkedUserId(userId: unknown): string {
  const problem = checkUserId(userId);
  if (problem !== undefined) throw invalid(problem);
  return userId as string;
}

/** 1000 or 3000–4999 and a reason of at most 123 UTF-8 bytes, as ConnectionHandle.close() accepts. */
function checkClose(code: unknown, reason: unknown): void {
  if (
    typeof code !== 'number' ||
    !(code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999))
  )
    throw invalid(`close code must be 1000 or 3000-4999, got ${String(code)}`);
  if (typeof reason !== 'string' || Buffer.byteLength(reason) > 123)
    throw invalid('close reason must be a string of at most 123 bytes');
}

export function createRegistry(books: Books, users: ReadonlyMap<string, UserRecord>): Registry {
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

  /** Sends to each of `ids`; a send may close its own connection (slow consumer), never the list. */
  function sendTo(
    ids: readonly string[],
    data: SendData,
    options: { binary?: boolean } | undefined,
    filter?: (connection: ConnectionHandle) => boolean,
  ): number {
    let sent = 0;
    for (const id of ids) {
      const handle = books.handles.get(id);
      if (handle === undefined || (filter !== undefined && !filter(handle))) continue;
      if (handle.send(data, options)) sent += 1;
    }
    return sent;
  }

  return {
    connectionsOf: (userId) => handlesOf(liveIdsOf(checkedUserId(userId))),

    connection: (connectionId) => {
      if (typeof connectionId !== 'string') throw invalid('connection id must be a string');
      return books.handles.get(connectionId);
    },

    sendToUser: (userId, data, options) => {
      const ids = liveIdsOf(checkedUserId(userId));
      checkData(data);
      return sendTo(ids, data, checkSendOptions(options));
    },

    broadcast: (data, options) => {
      checkData(data);
      const sendOptions = checkSendOptions(options);
      const filter = options?.filter;
      if (filter !== undefined && typeof filter !== 'function')
        throw invalid('options.filter must be a function');
      let sent = 0;
      for (const record of users.values()) sent += sendTo(record.liveIds, data, sendOptions, filter);
      return sent;
    },

    disconnectUser: (userId, code = 1000, reason = '') => {
      const ids = liveIdsOf(checkedUserId(userId));
      checkClose(code, reason);
      // Each close steps the user's supervisor, which publishes a new list; this one stays as it was.
      const handles = handlesOf(ids);
      for (const handle of handles) handle.close(code, reason);
      return handles.length;
    },
  };
}
