/**
 * The real runtime under a model's control: an HTTP server on port 0 with a
 * supervisor attached, on an ActorClock (delays elapse only when a test says
 * which one), with every actor's latest snapshot and every public event
 * recorded, and clients whose every byte in and out the test decides.
 *
 * Handshakes can be held (`holdHandshakes`) through ws's own asynchronous
 * `verifyClient`, the way an app that checks something before accepting
 * would: that is how a path stays in `connecting` for as long as it needs.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import {
  type AdmittedEvent,
  type AtLimitPolicy,
  type ConnectionHandle,
  createSupervisor,
  type DisposedEvent,
  type EvictedEvent,
  type RejectedEvent,
  type Supervisor,
  type SupervisorError,
  type SupervisorOptions,
} from '../../src/index.js';
import { type ShutdownChunk, withShutdownChunk } from '../../src/paced-drain.js';
import { closeServer, listenOnLoopback, userFromQuery } from '../helpers/server.js';
import { ActorClock } from './actor-clock.js';
import type { MachineCoverage } from './coverage.js';

/** Every delay has its own length, so a length names the delay. */
export const timings = {
  connectTimeoutMs: 1_000,
  idleTimeoutMs: 2_000,
  heartbeatIntervalMs: 3_000,
  drainTimeoutMs: 4_000,
  shutdownDeadlineMs: 5_000,
} as const;

/**
 * Every session of the rig expires this long after it was authenticated: never
 * within a walk, unless the walk leaps the clock by as much (`clock.leap`).
 */
export const SESSION_MS = 3_600_000;

/** A message the test app answers by throwing, so its hook fails for real. */
export const FAILING_MESSAGE = 'please fail';

/** A message the test app answers with a promise the test settles later (`rig.deferred`). */
export const DEFERRED_MESSAGE = 'please answer later';

/**
 * A message the test app answers, inside onMessage, by sending FLOOD_CHUNK to the same
 * connection until send() says no more (`rig.floods` records what it saw): the send buffer
 * overflows while the app's hook runs.
 */
export const FLOOD_MESSAGE = 'please flood me';
/** What the app sends for FLOOD_MESSAGE, each time. */
export const FLOOD_CHUNK = Buffer.alloc(16 * 1024, 7);
/** Sends of FLOOD_CHUNK after which the app gives up: send() never said no. */
export const FLOOD_GIVES_UP = 10_000;

/** What the app saw while it flooded its connection from onMessage. */
export interface Flood {
  connectionId: string;
  /** Sends that send() accepted. */
  accepted: number;
  /** The socket's bufferedAmount at its highest. */
  peak: number;
  /** What send() returned once more, after it said no. */
  sendAfter: boolean;
}

/**
 * What a client asks of the app's hooks (`open(user, { hooks })`, with `appHooks`):
 * `slow-auth`: authenticate answers with a promise the test settles (`rig.authenticating`);
 * `open-throws`: onOpen throws; `close-throws`: onClose throws (the connection is disposed anyway).
 */
export type HookFault = 'slow-auth' | 'open-throws' | 'close-throws' | 'expired-session';

/** An authenticate still waiting for the test's verdict. */
export interface PendingAuthentication {
  user: string;
  client: TestClient;
  /** Whether the supervisor answered the request already (timed out, or shut down). */
  answered(): boolean;
  /** accept: the user's id; refuse: null (401); throw: a rejection (500). */
  settle(verdict: 'accept' | 'refuse' | 'throw'): void;
}

export interface RigOptions {
  limit: number;
  /** The supervisor's own shutdown chunk (src/paced-drain.ts): the hub's model test makes it tiny. */
  shutdownChunk?: ShutdownChunk;
  evictionThreshold?: number;
  maxConnections?: number;
  maxBufferedBytes?: number;
  /** The supervisor's `messageRate`; none by default. */
  messageRate?: SupervisorOptions['messageRate'];
  holdHandshakes?: boolean;
  /**
   * Clients that read and answer pings like ordinary ones. By default a
   * client reads nothing until told (`resume()`), and pongs only when told.
   */
  ordinaryClients?: boolean;
  /** How long a user's supervisor lingers after its last connection. @default the production preset's */
  lingerMs?: number;
  coverage?: MachineCoverage[];
  /** The app's hooks fail or wait as each client asks (see HookFault and DEFERRED_MESSAGE). */
  appHooks?: boolean;
}

export interface ActorView {
  value: unknown;
  status: string;
}

/** One real client socket; reads only when resumed, pongs only when told. */
export class TestClient {
  readonly ws: WebSocket;
  connectionId: string | undefined;
  /** The close code the client saw, or the HTTP status of a refused upgrade, once known. */
  outcome: { code: number } | { status: number } | { error: string } | undefined;
  readonly #settled: Promise<void>;
  readonly opened: Promise<boolean>;

  constructor(
    readonly user: string,
    url: string,
    private readonly ordinary = false,
  ) {
    this.ws = new WebSocket(url, { autoPong: ordinary });
    this.ws.on('error', (error) => {
      this.outcome ??= { error: error.message };
    });
    let settle: () => void = () => {};
    this.#settled = new Promise((resolve) => {
      settle = resolve;
    });
    this.opened = new Promise((resolve) => {
      this.ws.once('open', () => {
        // Reads stop at once: the test, not the client, decides when the
        // server's frames (close, ping) are seen and answered.
        if (!this.ordinary) this.socket?.pause();
        resolve(true);
      });
      this.ws.once('unexpected-response', (_request, response) => {
        this.outcome = { status: response.statusCode ?? 0 };
        response.resume();
        // With this listener, ws leaves ending the request to us.
        this.ws.terminate();
      });
      // One close listener: the outcome is known before anyone waiting is told.
      this.ws.once('close', (code) => {
        if (this.outcome === undefined || 'error' in this.outcome) this.outcome = { code };
        resolve(false);
        settle();
      });
    });
  }

  get socket(): Socket | undefined {
    return (this.ws as unknown as { _socket?: Socket })._socket;
  }

  /** The TCP socket before the upgrade answer arrived. */
  get requestSocket(): Socket | undefined {
    return (this.ws as unknown as { _req?: { socket?: Socket } })._req?.socket ?? undefined;
  }

  resume(): void {
    this.socket?.resume();
  }

  /** Stops reading (and so stops answering pings and close frames). */
  pause(): void {
    this.socket?.pause();
  }

  /** Resolves once the client saw its socket close (or its upgrade refused). */
  async settled(): Promise<void> {
    this.resume();
    await this.#settled;
  }

  /** Writes an unmasked frame: a protocol error the server must answer. */
  sendInvalidFrame(): void {
    this.socket?.write(Buffer.from([0x81, 0x01, 0x61]));
  }

  /**
   * Writes 61 masked pings and the unmasked frame in one write: ws terminates the socket at
   * the 61st ping (`maxPendingAutoPongs`), then still parses the bad frame: an error ws can
   * answer with no close frame (the socket is gone).
   */
  sendInvalidFrameAfterPingFlood(): void {
    const ping = Buffer.from([0x89, 0x81, 0x12, 0x34, 0x56, 0x78, 0x70 ^ 0x12]); // ping "p"
    this.socket?.write(
      Buffer.concat([...Array.from({ length: 61 }, () => ping), Buffer.from([0x81, 0x01, 0x61])]),
    );
  }
}

/**
 * How a client connects: what it asks of the hooks, its own limit, its client instance claim
 * (`wssup-instance`, as `<id>.<attempt time>`).
 */
export interface OpenOptions {
  hooks?: HookFault;
  limit?: number;
  instance?: string;
  /** Its own atLimit (its `atLimit` query parameter), from authenticate's result. */
  atLimit?: AtLimitPolicy;
}

export interface Rig {
  supervisor: Supervisor;
  server: Server;
  clock: ActorClock;
  handles: Map<string, ConnectionHandle>;
  actors: Map<string, ActorView>;
  /** User supervisor actors by user id, to send them the cluster runtime's commands (issue 12). */
  userSupervisors: Map<string, AnyActorRef>;
  /** Application messages the app received, by connection id. */
  received: Map<string, number>;
  admitted: AdmittedEvent[];
  /**
   * Admissions that left their user above the user's limit (its own, just set), as the
   * `admitted` listener read the books: a lowered limit may leave a user above it, but
   * no admission may take it there.
   */
  overLimit: string[];
  rejected: RejectedEvent[];
  evicted: EvictedEvent[];
  disposed: DisposedEvent[];
  errors: SupervisorError[];
  /** Upgrades waiting for the app's verdict, oldest first. */
  held: Array<(accept: boolean) => void>;
  /** With `appHooks`: authenticate calls waiting for the test's verdict, oldest first. */
  authenticating: PendingAuthentication[];
  /** With `appHooks`: onMessage promises (DEFERRED_MESSAGE) waiting for the test, oldest first. */
  deferred: Array<(outcome: 'resolve' | 'reject') => void>;
  /** With `appHooks`: what onMessage saw each time a client asked it to flood (FLOOD_MESSAGE). */
  floods: Flood[];
  clients: TestClient[];
  /**
   * Opens a client; resolves once the supervisor admitted or refused it, or,
   * with `hooks: 'slow-auth'`, once its authenticate waits for the test.
   */
  open(user: string, options?: OpenOptions): Promise<TestClient>;
  /** Fails with `describe()` if `condition` does not hold within 5 s. */
  until(condition: () => boolean, describe: () => string): Promise<void>;
  /** Closes every client, checks that nothing is left, and stops the server. */
  teardown(): Promise<void>;
}

export async function startRig(options: RigOptions): Promise<Rig> {
  const clock = new ActorClock();
  const actors = new Map<string, ActorView>();
  const userSupervisors = new Map<string, AnyActorRef>();
  const handles = new Map<string, ConnectionHandle>();
  const received = new Map<string, number>();
  const held: Array<(accept: boolean) => void> = [];
  const authenticating: PendingAuthentication[] = [];
  const deferred: Array<(outcome: 'resolve' | 'reject') => void> = [];
  const floods: Flood[] = [];
  /** Connections whose onClose throws (asked with `close-throws`). */
  const closeThrows = new Set<string>();
  /** With appHooks, the client each upgrade request came from (its `client` query parameter). */
  const clientOf = new Map<string, TestClient>();
  const faultOf = (request: { url?: string | undefined }) =>
    new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('hooks');
  /** The client's own limit (its `limit` query parameter: the app's plan), or undefined. */
  const limitOf = (request: { url?: string | undefined }) => {
    const given = new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('limit');
    return given === null ? undefined : Number(given);
  };
  /** The client's own atLimit (its `atLimit` query parameter), or undefined. */
  const atLimitOf = (request: { url?: string | undefined }) =>
    (new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('atLimit') ?? undefined) as
      | AtLimitPolicy
      | undefined;
  const errors: SupervisorError[] = [];
  const inspect = (event: InspectionEvent) => {
    clock.observe(event);
    for (const coverage of options.coverage ?? []) coverage.record(event);
    if (event.type === '@xstate.snapshot') {
      const snapshot = event.snapshot as { value?: unknown; status: string; context?: unknown };
      const userId = (snapshot.context as { userId?: string; slots?: unknown } | undefined)?.userId;
      if (userId !== undefined && (snapshot.context as { slots?: unknown }).slots !== undefined) {
        userSupervisors.set(userId, event.actorRef as AnyActorRef);
      }
      // Connection actors by their connection id (their actor ids are reusable slot names).
      const connectionId = (snapshot.context as { connectionId?: string } | undefined)?.connectionId;
      actors.set(connectionId ?? (event.actorRef as unknown as { id: string }).id, {
        value: snapshot.value,
        status: snapshot.status,
      });
    }
  };
  const webSocketServer = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: 1024,
    ...(options.holdHandshakes
      ? { verifyClient: (_info: unknown, callback: (accept: boolean) => void) => void held.push(callback) }
      : {}),
  });
  const supervisorOptions: SupervisorOptions = {
    maxConnectionsPerUser: options.limit,
    ...(options.evictionThreshold === undefined ? {} : { evictionThreshold: options.evictionThreshold }),
    ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
    ...(options.lingerMs === undefined ? {} : { lingerMs: options.lingerMs }),
    ...(options.messageRate === undefined ? {} : { messageRate: options.messageRate }),
    connectTimeoutMs: timings.connectTimeoutMs,
    idleTimeoutMs: timings.idleTimeoutMs,
    heartbeatIntervalMs: timings.heartbeatIntervalMs,
    drainTimeoutMs: timings.drainTimeoutMs,
    maxBufferedBytes: options.maxBufferedBytes ?? 64 * 1024,
    webSocketServer,
    clock,
    inspect,
    authenticate: (request) => {
      const userId = userFromQuery(request);
      // A token whose session ended a second ago (README, The rules: refused as unauthenticated).
      if (userId !== null && faultOf(request) === 'expired-session')
        return { userId, expiresAt: Date.now() - 1_000 };
      const maxConnectionsPerUser = limitOf(request);
      const atLimit = atLimitOf(request);
      const verdict =
        userId === null
          ? null
          : {
              userId,
              expiresAt: Date.now() + SESSION_MS,
              maxConnectionsPerUser,
              ...(atLimit === undefined ? {} : { atLimit }),
            };
      if (options.appHooks !== true || faultOf(request) !== 'slow-auth' || userId === null) return verdict;
      const client = clientOf.get(
        new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('client') ?? '',
      );
      return new Promise((resolve, reject) => {
        authenticating.push({
          user: userId,
          client: client as TestClient,
          answered: () => request.socket.destroyed || request.socket.writableEnded,
          settle: (how) =>
            how === 'accept'
              ? resolve({ userId, expiresAt: Date.now() + SESSION_MS })
              : how === 'refuse'
                ? resolve(null)
                : reject(new Error('authenticate failed on purpose')),
        });
      });
    },
    onOpen: (connection, request) => {
      handles.set(connection.id, connection);
      if (options.appHooks !== true) return;
      const fault = faultOf(request);
      // A client admitted after a slow authenticate learns its connection id here.
      const client = clientOf.get(
        new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('client') ?? '',
      );
      if (client !== undefined) client.connectionId = connection.id;
      if (fault === 'close-throws') closeThrows.add(connection.id);
      if (fault === 'open-throws') throw new Error('onOpen failed on purpose');
    },
    onMessage: (connection, data) => {
      received.set(connection.id, (received.get(connection.id) ?? 0) + 1);
      if (data.toString() === FAILING_MESSAGE) throw new Error('the app failed on purpose');
      if (options.appHooks === true && data.toString() === FLOOD_MESSAGE) {
        const flood: Flood = { connectionId: connection.id, accepted: 0, peak: 0, sendAfter: false };
        while (flood.accepted < FLOOD_GIVES_UP && connection.send(FLOOD_CHUNK)) {
          flood.accepted += 1;
          flood.peak = Math.max(flood.peak, connection.socket?.bufferedAmount ?? 0);
        }
        flood.sendAfter = connection.send(FLOOD_CHUNK);
        floods.push(flood);
        return undefined;
      }
      if (options.appHooks === true && data.toString() === DEFERRED_MESSAGE) {
        return new Promise<void>((resolve, reject) => {
          deferred.push((outcome) =>
            outcome === 'resolve' ? resolve() : reject(new Error('onMessage rejected on purpose')),
          );
        });
      }
      return undefined;
    },
    onClose: (connection) => {
      if (closeThrows.delete(connection.id)) throw new Error('onClose failed on purpose');
    },
    onError: (error) => void errors.push(error),
  };
  // This supervisor's own chunk, if any: a seam of the tests, kept outside the options (paced-drain.ts).
  const supervisor = createSupervisor(withShutdownChunk(supervisorOptions, options.shutdownChunk));
  const admitted: AdmittedEvent[] = [];
  const rejected: RejectedEvent[] = [];
  const evicted: EvictedEvent[] = [];
  const disposed: DisposedEvent[] = [];
  const overLimit: string[] = [];
  supervisor.on('admitted', (event) => {
    admitted.push(event);
    const book = supervisor.userStats(event.userId);
    if (book !== undefined && book.live > book.limit)
      overLimit.push(`${event.connectionId} took ${event.userId} to ${book.live} > ${book.limit}`);
  });
  supervisor.on('rejected', (event) => void rejected.push(event));
  supervisor.on('evicted', (event) => void evicted.push(event));
  supervisor.on('disposed', (event) => {
    disposed.push(event);
    handles.delete(event.connectionId);
  });

  const server = createServer((_request, response) => response.end('ok'));
  supervisor.attach(server);
  const port = await listenOnLoopback(server);
  const clients: TestClient[] = [];

  async function until(condition: () => boolean, describe: () => string): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(describe());
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  let clientSeq = 0;
  async function open(user: string, openOptions: OpenOptions = {}): Promise<TestClient> {
    const admittedBefore = admitted.length;
    const decided = admitted.length + rejected.length;
    const waitingBefore = authenticating.length;
    const rejectedBefore = rejected.length;
    const hooks = openOptions.hooks;
    clientSeq += 1;
    const extra =
      (hooks === undefined ? '' : `&hooks=${hooks}&client=${clientSeq}`) +
      (openOptions.limit === undefined ? '' : `&limit=${openOptions.limit}`) +
      (openOptions.instance === undefined ? '' : `&wssup-instance=${openOptions.instance}`) +
      (openOptions.atLimit === undefined ? '' : `&atLimit=${openOptions.atLimit}`);
    const client = new TestClient(
      user,
      `ws://127.0.0.1:${port}/?user=${encodeURIComponent(user)}${extra}`,
      options.ordinaryClients === true,
    );
    if (hooks !== undefined) clientOf.set(String(clientSeq), client);
    clients.push(client);
    if (hooks === 'slow-auth') {
      // Refused before authenticate (shutting down), or waiting in it.
      await until(
        () => authenticating.length > waitingBefore || rejected.length > rejectedBefore,
        () => `authenticate was not called for a client of ${user}`,
      );
      return client;
    }
    await until(
      () => admitted.length + rejected.length > decided,
      () => `no admission decision for a client of ${user}`,
    );
    const decision = admitted.slice(admittedBefore).find((event) => event.userId === user);
    client.connectionId = decision?.connectionId;
    if (!options.holdHandshakes && decision !== undefined) await client.opened;
    return client;
  }

  async function teardown(): Promise<void> {
    // A held handshake is refused (ws answers 401): nothing else would end it.
    for (const answer of held.splice(0)) answer(false);
    for (const client of clients) client.ws.terminate();
    await until(
      () => supervisor.stats().connections === 0,
      () => `connections left after every client went away: ${JSON.stringify(supervisor.stats())}`,
    );
    await supervisor.shutdown();
    await closeServer(server);
    webSocketServer.close();
    await Promise.all(clients.map((client) => client.settled()));
  }

  return {
    supervisor,
    server,
    clock,
    handles,
    actors,
    userSupervisors,
    received,
    admitted,
    overLimit,
    rejected,
    evicted,
    disposed,
    errors,
    held,
    authenticating,
    deferred,
    floods,
    clients,
    open,
    until,
    teardown,
  };
}
