/**
 * createSupervisor(): the public runtime. It owns one hub actor (which owns
 * the user shards, which own the user supervisors, which own the connection
 * actors), turns upgrade requests into ADMIT commands, and turns the
 * machines' decisions into HTTP answers, handshakes, counters and events.
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { type Actor, createActor, toPromise } from 'xstate';
import { CloseCodes } from '../machines/connection.machine.js';
import type { AdmitCommand, ConnectionOutput, RefusalReason } from '../machines/events.js';
import { evictionPoint } from '../machines/eviction.js';
import { hubMachine } from '../machines/hub.machine.js';
import { userShardMachine } from '../machines/user-shard.machine.js';
import { userSupervisorMachine } from '../machines/user-supervisor.machine.js';
import { type AttachOptions, attachToServer } from './attach.js';
import { createCountingClock } from './clock.js';
import { createConnectionIds } from './connection-id.js';
import { AppHookError, SupervisorError } from './errors.js';
import {
  type RejectReason,
  type SupervisorEventMap,
  type SupervisorEventName,
  SupervisorEvents,
} from './events.js';
import { indexScheduler } from './indexed-scheduler.js';
import { type AuthResult, type ResolvedOptions, resolveOptions, type SupervisorOptions } from './options.js';
import { createSafely } from './safely.js';
import {
  collectStats,
  collectUserStats,
  type StatsOptions,
  type SupervisorStats,
  type UserStats,
} from './stats.js';
import { checkHandshake, type HandshakeRefusal } from './transport/handshake.js';
import { refuseUpgrade } from './transport/http-refusal.js';
import { type ConnectionEnv, createWsConnectionMachine, WsConnection } from './transport/ws-adapter.js';
import { checkUserId } from './user-id.js';

export interface ShutdownOptions {
  /** Connections still open this long after shutdown starts are terminated. @default drainTimeoutMs */
  deadlineMs?: number | undefined;
}

/** A running supervisor. Create one per process with {@link createSupervisor}. */
export interface Supervisor {
  /** The options in force, presets and defaults applied. */
  readonly options: Readonly<ResolvedOptions>;
  /**
   * Handles WebSocket upgrades of an HTTP(S) server. Returns the undo. The
   * listener stays through shutdown, so upgrades that arrive then (clients
   * reconnecting after their 1001) get a 503, until you detach or close the server.
   * @throws {SupervisorError} WSSUP_SHUTTING_DOWN after shutdown() started.
   */
  attach(server: HttpServer | HttpsServer, options?: AttachOptions): () => void;
  /**
   * Handles one upgrade request (call it from your own `upgrade` listener).
   * Resolves once the request is admitted or refused; never rejects.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void>;
  /** A snapshot of connections, users, states and counters, read from the actors. */
  stats(options?: StatsOptions): SupervisorStats;
  /** One user's slot book, or undefined when the user holds no connection. */
  userStats(userId: string): UserStats | undefined;
  /** Subscribes to a public event; returns the unsubscribe. */
  on<K extends SupervisorEventName>(name: K, listener: (event: SupervisorEventMap[K]) => void): () => void;
  /**
   * Refuses new connections, closes every connection with 1001, waits for
   * each to reach `disposed`, and terminates what is left at the deadline.
   * Idempotent: every call returns the same promise.
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
}

/**
 * How many user shards the hub spreads users over. Each spawn or stop of a
 * user supervisor copies its shard's children (and its user map), so a user's
 * first connection costs O(users / shards): with 64, the 50,000 users of a
 * million connections at 20 per user are about 800 per shard, and at 20,000
 * users an admission takes about 0.35 ms where it took 22 ms with every
 * supervisor under the hub. Each shard costs an idle actor, a message at
 * shutdown and a step in stats(), so the count stays fixed and modest rather
 * than growing with the users.
 */
const USER_SHARDS = 64;

const refusalStatus: Record<RejectReason, number | undefined> = {
  'bad-handshake': 400, // issue 13 (2): the default; checkHandshake gives the status ws would
  unauthenticated: 401,
  'invalid-user-id': 400,
  'auth-failed': 500,
  'user-limit': 429,
  'process-limit': 503,
  'shutting-down': 503,
  'socket-closed': undefined,
};

/**
 * Creates a supervisor: a hub actor that owns, through a fixed set of shards,
 * one supervisor actor per user, which owns one connection actor per socket.
 *
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION for a bad option; nothing is allocated.
 * @example
 * ```ts
 * const supervisor = createSupervisor({
 *   preset: 'production',
 *   authenticate: (request) => verifyToken(request.headers.authorization), // user id or null
 *   onMessage: (connection, data) => connection.send(data),
 * });
 * supervisor.attach(httpServer);
 * process.on('SIGTERM', () => supervisor.shutdown());
 * ```
 */
export function createSupervisor(options: SupervisorOptions): Supervisor {
  const resolved = Object.freeze(resolveOptions(options));
  const onError = options.onError ?? ((error: SupervisorError) => console.error(error));
  // Reporting runs inside actors, so it must not throw either.
  const report = (error: SupervisorError) => {
    try {
      onError(error);
    } catch (failure) {
      console.error('ws-supervisor: onError threw while reporting', error, failure);
    }
  };
  const events = new SupervisorEvents(report);
  const clock = createCountingClock(options.clock);
  const counters = { admitted: 0, rejected: 0, evicted: 0, disposed: 0 };
  const nextConnectionId = createConnectionIds();
  const ownWss = options.webSocketServer === undefined;
  const wss =
    options.webSocketServer ??
    new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: resolved.maxPayloadBytes });
  const env: ConnectionEnv = {
    wss,
    maxBufferedBytes: resolved.maxBufferedBytes,
    hooks: { onOpen: options.onOpen, onMessage: options.onMessage, onClose: options.onClose },
    report,
    listeners: 0,
  };

  const safely = createSafely(report);
  // The machines decide; the decision is written on the connection being admitted.
  const recordRefusal = safely(
    'announceRejected',
    ({ event }: { event: { type: string } }, { reason }: { reason: RefusalReason }) => {
      if (event.type === 'ADMIT')
        ((event as AdmitCommand).transport as WsConnection).decision = { admitted: false, reason };
    },
  );

  const userSupervisor = userSupervisorMachine.provide({
    actors: { connection: createWsConnectionMachine(report) },
    actions: {
      announceAdmitted: safely('announceAdmitted', ({ event }) => {
        if (event.type !== 'ADMIT') return;
        const connection = event.transport as WsConnection;
        connection.decision = { admitted: true };
        counters.admitted += 1;
        events.emit('admitted', {
          connectionId: connection.id,
          userId: connection.userId,
          correlationId: connection.correlationId,
        });
      }),
      announceRejected: recordRefusal,
      announceEvicted: safely(
        'announceEvicted',
        (_, { connectionId, userId }: { connectionId: string; userId: string }) => {
          counters.evicted += 1;
          events.emit('evicted', { connectionId, userId });
        },
      ),
      announceDisposed: safely('announceDisposed', (_, output: ConnectionOutput) => {
        const connection = output.transport as WsConnection;
        counters.disposed += 1;
        const info = {
          reason: output.reason,
          closeCode: output.closeCode,
          lifetimeMs: clock.now() - connection.admittedAt,
        };
        connection.runCloseHook(info);
        events.emit('disposed', { connectionId: output.connectionId, userId: output.userId, ...info });
      }),
      announceChildFailed: (_, { connectionId, error }) => {
        report(
          new SupervisorError('WSSUP_INTERNAL', `connection actor ${connectionId} failed`, { cause: error }),
        );
      },
    },
  });

  const userShard = userShardMachine.provide({
    actors: { userSupervisor },
    actions: {
      announceSupervisorFailed: ({ self }, { supervisorId, error }) => {
        report(
          new SupervisorError('WSSUP_INTERNAL', `user supervisor ${supervisorId} of ${self.id} failed`, {
            cause: error,
          }),
        );
      },
    },
  });

  const hub = createActor(
    hubMachine.provide({
      actors: { userShard },
      actions: {
        announceRejected: recordRefusal,
        announceShardFailed: (_, { shardId, error }) => {
          report(new SupervisorError('WSSUP_INTERNAL', `user shard ${shardId} failed`, { cause: error }));
        },
      },
    }),
    {
      input: {
        shards: USER_SHARDS,
        maxConnectionsPerUser: resolved.maxConnectionsPerUser,
        evictAt: evictionPoint(resolved.maxConnectionsPerUser, resolved.evictionThreshold),
        maxConnections: resolved.maxConnections,
        timings: {
          connectTimeoutMs: resolved.connectTimeoutMs,
          idleTimeoutMs: resolved.idleTimeoutMs,
          heartbeatIntervalMs: resolved.heartbeatIntervalMs,
          drainTimeoutMs: resolved.drainTimeoutMs,
        },
      },
      clock,
      ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
    },
  );
  // One system holds every actor; keep each actor's stop from scanning all of their delays.
  indexScheduler(hub.system);
  hub.start();

  const refusalMessage: Record<RefusalReason, string> = {
    'user-limit': `user has reached the maximum number of connections (${resolved.maxConnectionsPerUser})`,
    'process-limit': `server has reached the maximum number of connections (${resolved.maxConnections})`,
    'shutting-down': 'server is shutting down',
  };

  let shutdownPromise: Promise<void> | undefined;

  function reject(
    socket: Duplex,
    reason: RejectReason,
    userId: string | undefined,
    message: string,
    answer?: HandshakeRefusal, // issue 13 (2): a malformed handshake brings its own status and headers
  ): void {
    const status = socket.destroyed ? undefined : (answer?.status ?? refusalStatus[reason]);
    if (status !== undefined) refuseUpgrade(socket, status, message, answer?.headers);
    counters.rejected += 1;
    events.emit('rejected', { reason, status, userId, message });
  }

  async function handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Issue 13 (2): refuse what ws would refuse before authenticate and admission,
    // so a malformed request is never admitted and never evicts anything.
    const badHandshake = checkHandshake(request, wss);
    if (badHandshake !== undefined) {
      if (badHandshake.error !== undefined) report(badHandshake.error);
      return reject(socket, 'bad-handshake', undefined, badHandshake.message, badHandshake);
    }
    if (shutdownPromise !== undefined) {
      return reject(socket, 'shutting-down', undefined, 'server is shutting down');
    }
    // Until a decision, an error on the raw socket must not crash the process.
    const ignore = () => {};
    socket.on('error', ignore);
    try {
      let auth: AuthResult;
      try {
        auth = await options.authenticate(request);
      } catch (error) {
        report(new AppHookError('authenticate', error));
        return reject(socket, 'auth-failed', undefined, 'authentication failed');
      }
      if (socket.destroyed)
        return reject(socket, 'socket-closed', undefined, 'client went away during authentication');
      if (auth === null || auth === undefined)
        return reject(socket, 'unauthenticated', undefined, 'unauthenticated');
      const userId = typeof auth === 'object' ? auth.userId : auth;
      const correlationId = typeof auth === 'object' ? auth.correlationId : undefined;
      const problem = checkUserId(userId);
      if (problem !== undefined) return reject(socket, 'invalid-user-id', undefined, problem);
      if (shutdownPromise !== undefined) {
        return reject(socket, 'shutting-down', userId, 'server is shutting down');
      }
      admit(request, socket, head, userId, correlationId);
    } finally {
      socket.off('error', ignore);
    }
  }

  function admit(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    userId: string,
    correlationId: string | undefined,
  ): void {
    const connection = new WsConnection(env, nextConnectionId(), userId, correlationId, clock.now(), {
      request,
      socket,
      head,
    });
    // Everything below runs synchronously: when send() returns, the machines have decided.
    hub.send({ type: 'ADMIT', connectionId: connection.id, userId, transport: connection });
    const decision = connection.decision;
    if (decision?.admitted === true) {
      connection.completeHandshake();
    } else if (decision === undefined) {
      report(new SupervisorError('WSSUP_INTERNAL', `no admission decision for connection ${connection.id}`));
      reject(socket, 'shutting-down', userId, 'server is not accepting connections');
    } else {
      reject(socket, decision.reason, userId, refusalMessage[decision.reason]);
    }
  }

  function attach(server: HttpServer | HttpsServer, attachOptions: AttachOptions = {}): () => void {
    if (shutdownPromise !== undefined) {
      throw new SupervisorError('WSSUP_SHUTTING_DOWN', 'cannot attach: the supervisor is shutting down');
    }
    // Issue 13 (6): attach owns its path among the server's other upgrade listeners (src/attach.ts).
    return attachToServer(server, attachOptions, (request, socket, head) => {
      void handleUpgrade(request, socket, head);
    });
  }

  function shutdown(shutdownOptions: ShutdownOptions = {}): Promise<void> {
    if (shutdownPromise !== undefined) return shutdownPromise;
    const deadlineMs = shutdownOptions.deadlineMs ?? resolved.drainTimeoutMs;
    if (!Number.isInteger(deadlineMs) || deadlineMs < 0) {
      throw new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        `deadlineMs must be a non-negative integer, got ${deadlineMs}`,
      );
    }
    shutdownPromise = (async () => {
      hub.send({ type: 'SHUTDOWN', deadlineMs, code: CloseCodes.goingAway, reason: 'server shutting down' });
      await toPromise(hub as Actor<typeof hubMachine>);
      if (ownWss) wss.close();
    })();
    return shutdownPromise;
  }

  return {
    options: resolved,
    attach,
    handleUpgrade,
    stats: (statsOptions) => collectStats(hub, { counters, clock, env, events }, statsOptions),
    userStats: (userId) => collectUserStats(hub, userId),
    on: (name, listener) => events.on(name, listener),
    shutdown,
  };
}
