/**
 * The machines on fake sockets, for the machine tests: a socket whose
 * activity clock runs on the test's SimulatedClock, the connection machine
 * with its socket actions written to the socket's `did`, and the user
 * supervisor with its book publications and announcements written to a log.
 *
 * Conventions: a connection id starting with `boom` stands for a bug in the
 * runtime under that connection (its open hook throws: the connection actor
 * fails); one starting with `fragile` for a bug met only when it is closed
 * (closeSocket throws: the connection actor fails on its way to `draining`,
 * e.g. while a shutdown drains it); one starting with `crash` for a bug in the
 * supervisor's own step (announceAdmitted throws: the supervisor actor fails).
 */
import type { SimulatedClock } from 'xstate';
import {
  type BookCounts,
  bookCounts,
  type ConnectionEvent,
  connectionMachine,
  type TransportEventSource,
  type UserSupervisorContext,
  userSupervisorMachine,
} from '../../machines/index.js';
import { asFake, FakeTransport } from './fake-transport.js';

export const closed: ConnectionEvent = { type: 'SOCKET_CLOSED', code: 1000, reason: '' };

export type ApplicationMessage =
  | { type: 'MESSAGE_RECEIVED'; data: unknown; isBinary: boolean }
  | { type: 'MESSAGE_SENT' };

/**
 * A fake socket that keeps its activity clock on `clock`, as the real
 * transport does (src/transport/ws-adapter.ts): quiet since `lastActiveAt`,
 * which the handshake and every application message stamp. While the machine
 * delivers directly (between its `deliverDirectly` and `deliverViaMachine`)
 * a message is only stamped; otherwise it is also an event.
 */
export class ClockedTransport extends FakeTransport {
  /** Set by the machine's delivery actions (see `loggedConnection`). */
  direct = false;
  readonly #clock: SimulatedClock;

  constructor(clock: SimulatedClock) {
    super();
    this.#clock = clock;
    this.lastActiveAt = clock.now();
  }

  override quietForMs(): number {
    return this.#clock.now() - this.lastActiveAt;
  }

  override clockNow(): number {
    return this.#clock.now();
  }

  /** The handshake completed: the activity clock starts now. */
  open() {
    this.lastActiveAt = this.#clock.now();
    this.push({ type: 'SOCKET_OPENED' });
  }

  /** An application message in either direction. */
  message(event: ApplicationMessage = { type: 'MESSAGE_SENT' }) {
    this.lastActiveAt = this.#clock.now();
    if (!this.direct) this.push(event);
  }
}

const setDirect = (transport: TransportEventSource, direct: boolean) => {
  if (transport instanceof ClockedTransport) transport.direct = direct;
};

/** The connection machine with every socket action written to its fake socket's `did`. */
export function loggedConnection() {
  return connectionMachine.provide({
    actions: {
      abortHandshake: ({ context }) => void asFake(context).did.push('abort'),
      closeSocket: ({ context }, { code, reason }) => {
        if (context.connectionId.startsWith('fragile')) throw new Error('bug in the runtime');
        asFake(context).did.push(`close ${code} ${reason}`);
      },
      terminateSocket: ({ context }) => void asFake(context).did.push('terminate'),
      // As the real transport: a ping is outstanding until the peer's pong (FakeTransport.pong()).
      sendPing: ({ context }) => {
        asFake(context).pingOutstanding = true;
      },
      deliverDirectly: ({ context }) => setDirect(context.transport, true),
      deliverViaMachine: ({ context }) => setDirect(context.transport, false),
      runOpenHook: ({ context }) => {
        if (context.connectionId.startsWith('boom')) throw new Error('bug in the runtime');
      },
    },
  });
}

const formatBook = ({ live, idle, draining }: BookCounts) => `book ${live}/${idle}/${draining}`;

/**
 * The user supervisor over `loggedConnection`. `trace` gets every book it
 * publishes (`book live/idle/draining`) and every announcement, in order.
 * `drift` gets a line for every announcement made while the last published
 * book was not the supervisor's book: the runtime's counters must already
 * reflect what is announced. `edges` gets what only the cluster-wide book
 * hears of (`idle`, `active`, `kept`), kept apart so that `trace` reads the
 * same in and out of cluster mode.
 */
export function loggedUserSupervisor(trace: string[], drift: string[], edges: string[] = []) {
  let published: BookCounts | undefined;
  const announce = (context: UserSupervisorContext, line: string) => {
    const book = formatBook(bookCounts(context));
    const mirror = published === undefined ? 'nothing' : formatBook(published);
    if (mirror !== book) drift.push(`${line}: published ${mirror}, but the book is ${book}`);
    trace.push(line);
  };
  const machine = userSupervisorMachine.provide({
    actors: { connection: loggedConnection() },
    actions: {
      publishBook: (_, counts) => {
        published = counts;
        trace.push(formatBook(counts));
      },
      publishEnded: () => void trace.push('book ended'),
      announceAdmitted: ({ context }, { connectionId }) => {
        if (connectionId.startsWith('crash')) throw new Error('bug in announceAdmitted');
        announce(context, `admitted ${connectionId}`);
      },
      announceRejected: ({ context }, { connectionId, reason }) =>
        announce(context, `rejected ${connectionId} ${reason}`),
      announceEvicted: ({ context }, { connectionId }) => announce(context, `evicted ${connectionId}`),
      announceDisposed: ({ context }, { connectionId, reason }) =>
        announce(context, `disposed ${connectionId} ${reason}`),
      announceChildFailed: ({ context }, { connectionId }) => announce(context, `failed ${connectionId}`),
      announceIdle: (_, { connectionId, lastActivityAt }) =>
        void edges.push(`idle ${connectionId} ${lastActivityAt}`),
      announceActive: (_, { connectionId }) => void edges.push(`active ${connectionId}`),
      announceKept: (_, { connectionId }) => void edges.push(`kept ${connectionId}`),
    },
  });
  return { machine, published: () => published };
}
