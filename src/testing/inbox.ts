/**
 * An inbox on a client socket: every message from the moment it is made, in
 * order, for a test to take one at a time. `await once(ws, 'message')` loses
 * messages: two sent back to back often arrive in one read, and `ws` emits
 * both in one tick (its default `allowSynchronousEvents`), before the code
 * after the first `await` can call `once()` again.
 */
import type { WebSocket } from 'ws';
import { describeValue, SupervisorError } from '../errors.js';
import { SocketClosedError } from './socket-closed-error.js';

/** A message an {@link Inbox} received. */
export interface InboxMessage {
  /** Its bytes (a text message's as UTF-8), whatever the socket's `binaryType`. */
  data: Buffer;
  /** Whether it came as a binary message. */
  isBinary: boolean;
  /** Its bytes read as UTF-8: `JSON.parse(message.text)` for a JSON protocol. */
  text: string;
}

/** How the socket of an {@link Inbox} closed, as its `close` event said. */
export interface InboxClose {
  /** The close code, e.g. 1001 for a shutdown, 4001 for an eviction; 1006 when no close frame came. */
  code: number;
  /** The close reason, as text (`''` when there was none). */
  reason: string;
  /** The first `error` the socket emitted, or undefined when it emitted none. */
  error: Error | undefined;
}

/**
 * The messages of one socket, buffered from the moment {@link inbox} was called. Each
 * message goes to one wait only, in order: two `next()` calls get two messages.
 */
export interface Inbox {
  /**
   * The next message not yet taken: at once when one is waiting, else the next to arrive.
   * One that never resolves, for a message the server did send, may mean that the inbox
   * was made after that message came (`ws` emitted it to no one): make it right after
   * `new WebSocket(url)`, before the `open` event.
   *
   * @throws {SocketClosedError} WSSUP_SOCKET_CLOSED (the promise rejects) when the socket
   *   closes before that message came, naming the close code and reason.
   */
  next(): Promise<InboxMessage>;
  /**
   * The next `count` messages, in order, as {@link next} takes them one by one.
   *
   * @throws {SocketClosedError} WSSUP_SOCKET_CLOSED (the promise rejects) when the socket
   *   closes before the last of them came; those that came are taken all the same, and are
   *   the error's `received`.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT (the promise rejects, nothing is taken)
   *   for a `count` that is not a positive integer, or is above 100,000.
   */
  take(count: number): Promise<InboxMessage[]>;
  /** Resolves when the socket has closed (never rejects): its code, its reason, its error if any. */
  readonly closed: Promise<InboxClose>;
  /** The messages received and not yet taken, oldest first (a copy). */
  readonly unread: readonly InboxMessage[];
  /**
   * The errors the socket emitted that no wait has reported, oldest first (a copy): `[]`
   * unless something went wrong. The inbox listens for `error`, so that none throws from
   * the socket; a wait that the close then rejects reports them (the first as its
   * `cause`), and they leave this list. Check it when a test ends, so that an error no
   * wait read (a server's invalid frame, after the test's last `next()`) fails the test:
   * `expect(messages.errors).toEqual([])`.
   */
  readonly errors: readonly Error[];
}

interface Waiter {
  resolve(message: InboxMessage): void;
  reject(error: SocketClosedError): void;
  /** Which message it waits for, counted from the inbox's start (1 is the first). */
  nth: number;
}

const CLOSED = 3; // WebSocket.CLOSED

/** A message's data as one Buffer: `binaryType` may be 'arraybuffer' or 'fragments'. */
function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * The most take(count) waits for at once. It makes one waiting promise per message, all at
 * the call: take(1e8) would allocate 1e8 of them, and above 2^32 - 1 Array.from throws a
 * RangeError at the call. A test never needs near this many; a larger count is a slip.
 */
const MAX_TAKE = 100_000;

/**
 * Starts buffering every message `ws` receives, from now on. Call it right after
 * `new WebSocket(url)`, before the `open` event: a message the server sends in
 * `onOpen` comes with the handshake, and `ws` emits it before `await once(ws, 'open')`
 * returns. The inbox listens for `error` too, so an error does not throw from the
 * socket: it comes with the close (in `closed`, and as the `cause` of a wait's rejection),
 * and until a wait reports it, it stays in `errors`: check that list as the test ends,
 * or an error no wait read goes unnoticed. Its listeners are removed when the socket closes.
 *
 * @param ws A `ws` WebSocket (a client's), connecting or open.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT when `ws` is not a `ws` WebSocket, or
 *   has already closed (its close, and its messages, are gone).
 * @example
 * const ws = new WebSocket(url);
 * const messages = inbox(ws);
 * await once(ws, 'open');
 * ws.send(JSON.stringify({ join: 'lobby' }));
 * const [presence, chat] = await messages.take(2); // sent back to back: neither is lost
 * expect(JSON.parse(chat.text)).toEqual({ said: 'welcome' });
 */
export function inbox(ws: WebSocket): Inbox {
  if (
    typeof ws !== 'object' ||
    ws === null ||
    typeof ws.on !== 'function' ||
    typeof ws.off !== 'function' ||
    typeof ws.readyState !== 'number'
  ) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `inbox(ws): expected a WebSocket of ws, received ${describeValue(ws)}.`,
    );
  }
  if (ws.readyState === CLOSED) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      'inbox(ws): the socket has already closed; call inbox() right after new WebSocket(url).',
    );
  }
  const unread: InboxMessage[] = [];
  const waiters: Waiter[] = [];
  /** Messages received so far, taken or not. */
  let received = 0;
  /** Messages asked for so far, by next() and take(): the next wait is for message asked + 1. */
  let asked = 0;
  let error: Error | undefined;
  /** Errors no wait has reported yet. */
  let unreported: Error[] = [];
  let ended: InboxClose | undefined;
  let settleClosed: (close: InboxClose) => void = () => {};
  const closed = new Promise<InboxClose>((resolve) => {
    settleClosed = resolve;
  });

  const closedError = (nth: number, close: InboxClose) => {
    unreported = []; // reported by this rejection (its cause)
    return new SocketClosedError({
      closeCode: close.code,
      closeReason: close.reason,
      waitedFor: nth,
      receivedInAll: received,
      cause: close.error,
    });
  };

  const onMessage = (data: WebSocket.RawData, isBinary: boolean) => {
    received += 1;
    const bytes = toBuffer(data);
    const message: InboxMessage = { data: bytes, isBinary, text: bytes.toString('utf8') };
    const waiter = waiters.shift();
    if (waiter === undefined) unread.push(message);
    else waiter.resolve(message);
  };
  const onError = (problem: Error) => {
    error ??= problem;
    unreported.push(problem);
  };
  const onClose = (code: number, reason: Buffer) => {
    ws.off('message', onMessage).off('error', onError).off('close', onClose);
    ended = { code, reason: reason.toString('utf8'), error };
    for (const waiter of waiters.splice(0)) waiter.reject(closedError(waiter.nth, ended));
    settleClosed(ended);
  };
  ws.on('message', onMessage).on('error', onError).on('close', onClose);

  const next = (): Promise<InboxMessage> => {
    asked += 1;
    const message = unread.shift();
    if (message !== undefined) return Promise.resolve(message);
    if (ended !== undefined) return Promise.reject(closedError(asked, ended));
    const nth = asked;
    return new Promise<InboxMessage>((resolve, reject) => {
      waiters.push({ resolve, reject, nth });
    });
  };

  return {
    next,
    take(count: number): Promise<InboxMessage[]> {
      // Rejected, not thrown: a promise's caller handles its errors in one place (nothing waits).
      if (!Number.isSafeInteger(count) || count < 1 || count > MAX_TAKE) {
        return Promise.reject(
          new SupervisorError(
            'WSSUP_INVALID_ARGUMENT',
            `inbox take(count): expected a positive integer of at most ${MAX_TAKE}, received ${describeValue(count)}.`,
          ),
        );
      }
      // Asked for all at once, so that no other wait takes one in between.
      const waits = Array.from({ length: count }, next);
      // Settled all, so that a close partway rejects with the messages that did come (all
      // the waits after the first rejected one reject too: they are later in line).
      return Promise.allSettled(waits).then((results) => {
        const came: InboxMessage[] = [];
        for (const result of results) {
          if (result.status === 'fulfilled') came.push(result.value);
          else {
            const first = result.reason as SocketClosedError;
            throw new SocketClosedError({
              closeCode: first.closeCode,
              closeReason: first.closeReason,
              waitedFor: first.waitedFor,
              receivedInAll: received,
              received: came,
              cause: first.cause as Error | undefined,
            });
          }
        }
        return came;
      });
    },
    closed,
    get unread(): readonly InboxMessage[] {
      return [...unread];
    },
    get errors(): readonly Error[] {
      return [...unreported];
    },
  };
}
