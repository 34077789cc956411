/**
 * createSupervisor(): the public runtime. It keeps one root user-supervisor
 * actor per user in a Map (each owns that user's connection actors), sends
 * each admission straight to it, keeps the process-wide count and the books
 * that stats() reads, and owns a small hub actor whose only job is the
 * shutdown deadline. It turns the machines' decisions into HTTP answers,
 * handshakes, counters and events.
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { type Actor, type AnyActorRef, createActor, toPromise } from 'xstate';
import { CloseCodes } from '../machines/connection.machine.js';
import type { ConnectionOutput, RefusalReason } from '../machines/events.js';
import { evictionPoint } from '../machines/eviction.js';
import { hubMachine } from '../machines/hub.machine.js';
import { userSupervisorMachine } from '../machines/user-supervisor.machine.js';
import { takeAdmissionToken } from './admission-rate.js';
import { type AttachOptions, attachToServer } from './attach.js';
import { auditBooks } from './audit.js';
import { Books, UserRecord } from './books.js';
import { capacityThresholds } from './capacity.js';
import { createCountingClock } from './clock.js';
import { ClusterBook, type Reservation } from './cluster/cluster-admission.js';
import { createClusterHost } from './cluster/cluster-host.js';
import { openSlotStore } from './cluster/open-store.js';
import type { ConnectionHandle } from './connection-handle.js';
import { createConnectionIds } from './connection-id.js';
import { AppHookError, SupervisorError } from './errors.js';
import { type RejectReason, SupervisorEvents } from './events.js';
import { type AuthResult, resolveOptions, type SupervisorOptions } from './options.js';
import { drainBatch } from './paced-drain.js';
import { closeCodeFor, closeReason, Refusal, retryAfterSeconds } from './refusal.js';
import { createRegistry } from './registry.js';
import { createSafely } from './safely.js';
import { collectStats, type StatsOptions, type StatsSources, userStatsOf } from './stats.js';
import type { ShutdownOptions, ShutdownPace, Supervisor } from './supervisor-api.js';
import { CloseRefusals } from './transport/close-refusal.js';
import { checkHandshake } from './transport/handshake.js';
import { refuseUpgrade } from './transport/http-refusal.js';
import { type ConnectionEnv, createWsConnectionMachine, WsConnection } from './transport/ws-adapter.js';
import { checkUserId } from './user-id.js';

export type { ShutdownOptions, ShutdownPace, Supervisor };

const refusalStatus: Record<RejectReason, number | undefined> = {
  'bad-handshake': 400, // issue 13 (2): the default; checkHandshake gives the status ws would
  unauthenticated: 401,
  'invalid-user-id': 400,
  'auth-failed': 500,
  refused: undefined, // the status the app's Refusal chose
  'user-limit': 429,
  'rate-limited': 429,
  'process-limit': 503,
  'shutting-down': 503,
  'store-unavailable': 503, // issue 12: cluster mode, onStoreUnavailable: 'reject'
  'socket-closed': undefined,
};

/** One refusal, whatever refused it (see reject()). */
interface Rejection {
  reason: RejectReason;
  message: string;
  userId?: string | undefined;
  correlationId?: string | undefined;
  /** Overrides the reason's status: a malformed handshake's, or the app's Refusal's. */
  status?: number | undefined;
  /** A malformed handshake's own headers (issue 13 (2)). */
  headers?: Readonly<Record<string, string>> | undefined;
  retryAfterMs?: number | undefined;
}

/**
 * Creates a supervisor: one root supervisor actor per user (found in a Map),
 * which owns one connection actor per socket, and a hub actor for shutdown.
 * `Data` types `connection.data`, the app data `authenticate` returns.
 *
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION for a bad option; nothing is allocated.
 * @example
 * ```ts
 * const supervisor = createSupervisor<{ plan: string }>({
 *   preset: 'production',
 *   authenticate: async (request) => {
 *     const claims = await verifyToken(request); // your code
 *     if (claims === null) return null; // HTTP 401
 *     if (claims.banned) return new Refusal(403, 'account suspended');
 *     return { userId: claims.sub, data: { plan: claims.plan } };
 *   },
 *   onMessage: (connection, data, isBinary) => connection.send(data, { binary: isBinary }),
 * });
 * supervisor.attach(httpServer);
 * process.on('SIGTERM', () => supervisor.shutdown());
 * ```
 */
export function createSupervisor<Data = unknown>(appOptions: SupervisorOptions<Data>): Supervisor<Data> {
  const resolved = Object.freeze(resolveOptions(appOptions));
  // The runtime handles every connection as ConnectionHandle<unknown>; the app's hooks see Data.
  const options = appOptions as SupervisorOptions;
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
  const books = new Books(
    capacityThresholds(resolved.capacityLevels, resolved.capacityHysteresis, resolved.maxConnectionsPerUser),
  );
  const { counters } = books;
  /** userId → that user's supervisor: the only lookup on the admission path. */
  const users = new Map<string, UserRecord>();
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
    now: clock.now,
    activity: resolved.activity,
    books,
    listeners: 0,
  };
  const evictAt = evictionPoint(resolved.maxConnectionsPerUser, resolved.evictionThreshold);
  const timings = Object.freeze({
    connectTimeoutMs: resolved.connectTimeoutMs,
    idleTimeoutMs: resolved.idleTimeoutMs,
    heartbeatIntervalMs: resolved.heartbeatIntervalMs,
    drainTimeoutMs: resolved.drainTimeoutMs,
  });
  const inspect = options.inspect === undefined ? {} : { inspect: options.inspect };

  const safely = createSafely(report);
  const closeRefusals = new CloseRefusals({
    wss,
    clock,
    inspect,
    report,
    timeoutMs: resolved.closeRefusalTimeoutMs,
    max: resolved.refuse === 'close' ? resolved.maxCloseRefusals : 0,
    counter: env,
  });

  /** A connection left the books for good: counters, the app's onClose, the public event. */
  function disposed(output: ConnectionOutput): void {
    const connection = output.transport as WsConnection;
    cluster?.released(output.userId, output.connectionId);
    counters.disposed += 1;
    books.handles.delete(output.connectionId);
    if (!connection.opened) books.connecting -= 1;
    const info = {
      reason: output.reason,
      closeCode: output.closeCode,
      lifetimeMs: clock.now() - connection.admittedAt,
      cleanupMs: connection.endedAt === undefined ? undefined : clock.now() - connection.endedAt,
    };
    connection.runCloseHook(info);
    events.emit('disposed', { connectionId: output.connectionId, userId: output.userId, ...info });
  }

  const userSupervisor = userSupervisorMachine.provide({
    actors: { connection: createWsConnectionMachine(env) },
    actions: {
      // `context.live` is the list the machine has just assigned (published with the counts it gives).
      publishBook: ({ context }, book) => {
        const record = users.get(context.userId);
        if (record !== undefined) books.publish(record, book, context.live);
      },
      announceAdmitted: safely('announceAdmitted', ({ event }) => {
        if (event.type !== 'ADMIT') return;
        const connection = event.transport as WsConnection;
        connection.decision = { admitted: true };
        counters.admitted += 1;
        books.connecting += 1;
        books.handles.set(connection.id, connection);
        events.emit('admitted', {
          connectionId: connection.id,
          userId: connection.userId,
          correlationId: connection.correlationId,
        });
      }),
      announceRejected: safely('announceRejected', ({ event }, { reason }) => {
        if (event.type === 'ADMIT') (event.transport as WsConnection).decision = { admitted: false, reason };
      }),
      announceEvicted: safely('announceEvicted', (_, { connectionId, userId }) => {
        counters.evicted += 1;
        events.emit('evicted', { connectionId, userId });
      }),
      announceDisposed: safely('announceDisposed', (_, output) => disposed(output)),
      // Issue 12: the cluster-wide book mirrors the idle ⇄ live edges, and re-books a child kept active.
      announceIdle: safely('announceIdle', ({ context }, { connectionId, lastActivityAt }) =>
        cluster?.idle(context.userId, connectionId, lastActivityAt),
      ),
      announceActive: safely('announceActive', ({ context }, { connectionId }) =>
        cluster?.idle(context.userId, connectionId, undefined),
      ),
      announceKept: safely('announceKept', (_, { connectionId, userId }) =>
        cluster?.kept(userId, connectionId),
      ),
      announceChildFailed: safely(
        'announceChildFailed',
        ({ event, self }, { connectionId, userId, error }) => {
          report(
            new SupervisorError('WSSUP_INTERNAL', `connection actor ${connectionId} failed`, {
              cause: error,
            }),
          );
          // A failed actor ran its stop procedure, so its socket is released:
          // it is disposed, and its context still names its transport.
          const { children } = self.getSnapshot() as { children: Record<string, AnyActorRef | undefined> };
          const child = 'actorId' in event ? children[event.actorId] : undefined;
          const context = child?.getSnapshot().context as ConnectionOutput | undefined;
          if (context !== undefined) {
            disposed({
              connectionId,
              userId,
              transport: context.transport,
              reason: 'error',
              closeCode: undefined,
            });
          }
        },
      ),
    },
  });

  /** The user's supervisor, started on the user's first admission. */
  function supervisorOf(userId: string): UserRecord {
    const existing = users.get(userId);
    if (existing !== undefined) return existing;
    const actor = createActor(userSupervisor, {
      input: { userId, limit: resolved.maxConnectionsPerUser, evictAt, lingerMs: resolved.lingerMs, timings },
      clock,
      ...inspect,
    });
    const record = new UserRecord(userId, actor);
    users.set(userId, record);
    books.supervisorStarted();
    actor.subscribe({
      // After each of the supervisor's steps, once its own events are out.
      next: () => announceCapacity(record),
      complete: () => supervisorEnded(record),
      error: (error) => supervisorFailed(record, error),
    });
    actor.start();
    return record;
  }

  /**
   * Announces the capacity levels the user crossed in the supervisor's last
   * step: its net change, so an eviction and an admission in one step that
   * leave the count where it was announce nothing.
   */
  function announceCapacity(record: UserRecord): void {
    const from = record.announcedBand;
    const to = record.band;
    if (from === to) return;
    record.announcedBand = to;
    books.capacityAlerts += Math.abs(to - from);
    const step = to > from ? 1 : -1;
    for (let band = from; band !== to; band += step) {
      events.emit('capacity', {
        userId: record.userId,
        direction: step > 0 ? 'up' : 'down',
        level: resolved.capacityLevels[step > 0 ? band : band - 1] as number,
        band: to,
        live: record.book.live,
        limit: resolved.maxConnectionsPerUser,
      });
    }
  }

  function supervisorEnded(record: UserRecord): void {
    if (users.get(record.userId) === record) users.delete(record.userId);
    books.supervisorEnded(record);
    announceCapacity(record);
    if (shuttingDown && users.size === 0) allUsersEnded();
  }

  /**
   * A failed supervisor (a bug): XState stops none of its children, and a
   * child cannot be stopped from outside its parent, so the runtime tells each
   * to terminate (its final state releases its socket and timers) and counts
   * them disposed; their slots go with them.
   */
  function supervisorFailed(record: UserRecord, error: unknown): void {
    report(
      new SupervisorError('WSSUP_INTERNAL', `user supervisor of ${record.userId} failed`, { cause: error }),
    );
    const { children } = record.actor.getSnapshot() as { children: Record<string, AnyActorRef> };
    const outputs: ConnectionOutput[] = [];
    for (const child of Object.values(children)) {
      const snapshot = child.getSnapshot() as { status: string; context: ConnectionOutput };
      if (snapshot.status !== 'active') continue;
      const { connectionId, userId, transport } = snapshot.context;
      child.send({ type: 'TERMINATE' });
      outputs.push({ connectionId, userId, transport, reason: 'error', closeCode: undefined });
    }
    supervisorEnded(record);
    for (const output of outputs) disposed(output);
  }

  let shuttingDown = false;
  let allEndedSent = false;
  function allUsersEnded(): void {
    if (allEndedSent) return;
    allEndedSent = true;
    hub.send({ type: 'ALL_USERS_ENDED' });
  }

  const hub = createActor(hubMachine, { clock, ...inspect });
  // The hub's requests arrive after its step: each supervisor steps on its own.
  hub.on('drainAll', ({ code, reason }) => {
    for (const record of users.values()) record.actor.send({ type: 'SHUTDOWN', code, reason });
  });
  hub.on('drainBatch', ({ of, code, reason }) => {
    drainBatch(users, books.handles.keys(), Math.ceil(books.live / of), {
      type: 'DRAIN',
      code,
      reason,
      cause: 'shutdown',
    });
    // No user reconnects here any more: a supervisor lingering for one ends now,
    // not at the last batch (SHUTDOWN stops a lingering supervisor at once).
    for (const record of users.values()) {
      if (record.empty) record.actor.send({ type: 'SHUTDOWN', code, reason });
    }
  });
  hub.on('terminateAll', () => {
    for (const record of users.values()) {
      // Every supervisor was told by now (a pace window ends before the deadline), so
      // SHUTDOWN is ignored; one still supervising would drain first, then terminate.
      record.actor.send({ type: 'SHUTDOWN', code: CloseCodes.goingAway, reason: 'server shutting down' });
      record.actor.send({ type: 'TERMINATE' });
    }
  });
  hub.start();

  // Issue 12: cluster mode's book, lease and breaker (src/cluster/); undefined without it.
  const cluster =
    resolved.cluster === undefined
      ? undefined
      : new ClusterBook(
          openSlotStore(resolved.cluster),
          resolved.cluster,
          createClusterHost({
            users,
            limit: resolved.maxConnectionsPerUser,
            evictAt,
            clock: createCountingClock(options.clock),
            inspect: options.inspect,
            report,
            breakerChanged: (breaker) =>
              events.emit('store', {
                breaker,
                nodeId: resolved.cluster?.nodeId ?? '',
                policy: resolved.cluster?.onStoreUnavailable ?? 'local',
              }),
          }),
        );

  const sources: StatsSources = {
    books,
    users,
    clock,
    listeners: () => env.listeners,
    closeRefusals: () => closeRefusals.inFlight,
    limit: resolved.maxConnectionsPerUser,
    evictAt,
    cluster,
  };

  const refusalMessage: Record<RefusalReason, string> = {
    'user-limit': `user has reached the maximum number of connections (${resolved.maxConnectionsPerUser})`,
    'process-limit': `server has reached the maximum number of connections (${resolved.maxConnections})`,
    'shutting-down': 'server is shutting down',
  };

  const rateLimitMessage =
    resolved.admissionRate === undefined
      ? ''
      : `user is connecting too often (at most ${resolved.admissionRate.perSecond}/s, burst ${resolved.admissionRate.burst})`;

  let shutdownPromise: Promise<void> | undefined;

  /**
   * Answers a refusal: over HTTP, or (`refuse: 'close'`, a valid handshake, a
   * refusal slot free) as close code 4000 + status. 429 and 503 carry a retry hint.
   */
  function reject(request: IncomingMessage, socket: Duplex, head: Buffer, rejection: Rejection): void {
    const { reason, message } = rejection;
    // Read before the answer destroys the socket. (An in-memory request, as in bench/, may have none.)
    const remoteAddress = (request.socket as IncomingMessage['socket'] | undefined)?.remoteAddress;
    const status = socket.destroyed ? undefined : (rejection.status ?? refusalStatus[reason]);
    const retryAfterMs = rejection.retryAfterMs ?? defaultRetryAfter(reason, status);
    let via: 'http' | 'close' | undefined;
    if (status !== undefined) {
      const closeCode = closeCodeFor(status);
      const reasonText = reason === 'bad-handshake' ? '' : closeReason(message, retryAfterMs);
      if (reason !== 'bad-handshake' && closeRefusals.refuse(request, socket, head, closeCode, reasonText)) {
        via = 'close';
      } else {
        const headers =
          retryAfterMs === undefined
            ? rejection.headers
            : { ...rejection.headers, 'Retry-After': String(retryAfterSeconds(retryAfterMs)) };
        refuseUpgrade(socket, status, message, headers);
        via = 'http';
      }
    }
    counters.rejected += 1;
    events.emit('rejected', {
      reason,
      status,
      userId: rejection.userId,
      message,
      via,
      retryAfterMs: status === undefined ? undefined : retryAfterMs,
      remoteAddress,
      userAgent: request.headers['user-agent'],
      correlationId: rejection.correlationId,
    });
  }

  /** The configured retry hint of a built-in 429/503 refusal (or an app Refusal that gave none). */
  function defaultRetryAfter(reason: RejectReason, status: number | undefined): number | undefined {
    if (status !== 429 && status !== 503) return undefined;
    const hints = resolved.retryAfterMs;
    return reason in hints ? hints[reason as keyof typeof hints] : hints.refused;
  }

  async function handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Issue 13 (2): refuse what ws would refuse before authenticate and admission,
    // so a malformed request is never admitted and never evicts anything.
    const badHandshake = checkHandshake(request, wss);
    if (badHandshake !== undefined) {
      if (badHandshake.error !== undefined) report(badHandshake.error);
      return reject(request, socket, head, { reason: 'bad-handshake', ...badHandshake });
    }
    if (shutdownPromise !== undefined) {
      return reject(request, socket, head, { reason: 'shutting-down', message: 'server is shutting down' });
    }
    // Until a decision, an error on the raw socket must not crash the process.
    const ignore = () => {};
    socket.on('error', ignore);
    try {
      let auth: AuthResult;
      try {
        auth = await options.authenticate(request);
      } catch (error) {
        if (!(error instanceof Refusal)) {
          report(new AppHookError('authenticate', error));
          return reject(request, socket, head, { reason: 'auth-failed', message: 'authentication failed' });
        }
        auth = error; // issue 11 (3): a thrown Refusal is the app's answer, not a failure
      }
      if (socket.destroyed) {
        const message = 'client went away during authentication';
        return reject(request, socket, head, { reason: 'socket-closed', message });
      }
      if (auth === null || auth === undefined)
        return reject(request, socket, head, { reason: 'unauthenticated', message: 'unauthenticated' });
      if (auth instanceof Refusal) {
        const { status, message, retryAfterMs } = auth;
        return reject(request, socket, head, { reason: 'refused', status, message, retryAfterMs });
      }
      const userId = typeof auth === 'object' ? auth.userId : auth;
      const correlationId = typeof auth === 'object' ? auth.correlationId : undefined;
      const problem = checkUserId(userId);
      if (problem !== undefined)
        return reject(request, socket, head, { reason: 'invalid-user-id', message: problem, correlationId });
      if (shutdownPromise !== undefined) {
        const message = 'server is shutting down';
        return reject(request, socket, head, { reason: 'shutting-down', message, userId, correlationId });
      }
      await admit(
        request,
        socket,
        head,
        userId,
        correlationId,
        typeof auth === 'object' ? auth.data : undefined,
      );
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
    data: unknown,
  ): void | Promise<void> {
    // Draining connections still hold a socket, so they count here (not toward the user's limit).
    if (resolved.maxConnections !== undefined && books.connections >= resolved.maxConnections) {
      const message = refusalMessage['process-limit'];
      reject(request, socket, head, { reason: 'process-limit', message, userId, correlationId });
      return;
    }
    // Issue 11 (7): a user's token bucket is on its record; a user without one has a full bucket.
    const rate = resolved.admissionRate;
    const known = rate === undefined ? undefined : users.get(userId);
    if (rate !== undefined && known !== undefined) {
      const waitMs = takeAdmissionToken(known, rate, clock.now());
      if (waitMs > 0) {
        const rejection = {
          reason: 'rate-limited',
          message: rateLimitMessage,
          retryAfterMs: waitMs,
        } as const;
        reject(request, socket, head, { ...rejection, userId, correlationId });
        return;
      }
    }
    // Issue 12: in cluster mode the cluster-wide book reserves the slot first.
    if (cluster !== undefined) {
      return admitInCluster(cluster, request, socket, head, userId, correlationId, data);
    }
    admitLocally(request, socket, head, userId, correlationId, data, nextConnectionId());
  }

  /** The machines decide; returns whether the connection was admitted (and its handshake started). */
  function admitLocally(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    userId: string,
    correlationId: string | undefined,
    data: unknown,
    connectionId: string,
  ): boolean {
    const rate = resolved.admissionRate;
    const known = users.has(userId);
    const connection = new WsConnection(
      env,
      connectionId,
      userId,
      correlationId,
      clock.now(),
      { request, socket, head },
      data,
    );
    const record = supervisorOf(userId);
    if (rate !== undefined && !known) takeAdmissionToken(record, rate, clock.now());
    // Everything below runs synchronously: when send() returns, the machines have decided.
    record.actor.send({
      type: 'ADMIT',
      connectionId: connection.id,
      userId,
      transport: connection,
    });
    const decision = connection.decision;
    if (decision?.admitted === true) {
      connection.completeHandshake();
      return true;
    }
    if (decision === undefined) {
      report(new SupervisorError('WSSUP_INTERNAL', `no admission decision for connection ${connection.id}`));
      const message = 'server is not accepting connections';
      reject(request, socket, head, { reason: 'shutting-down', message, userId, correlationId });
    } else {
      const message = refusalMessage[decision.reason];
      reject(request, socket, head, { reason: decision.reason, message, userId, correlationId });
    }
    return false;
  }

  /**
   * Issue 12: reserve the slot in the cluster-wide book, then let the local
   * machines decide as always (local ≤ global, so they never refuse what the
   * book admitted, short of the process limit or shutdown meanwhile). A slot
   * reserved for a connection the machines did not take is given back.
   */
  async function admitInCluster(
    book: ClusterBook,
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    userId: string,
    correlationId: string | undefined,
    data: unknown,
  ): Promise<void> {
    const connectionId = nextConnectionId();
    const reservation: Reservation = await book.reserve(userId, connectionId);
    const who = { userId, correlationId };
    if (reservation.outcome === 'refused') {
      return reject(request, socket, head, {
        reason: 'user-limit',
        message: refusalMessage['user-limit'],
        ...who,
      });
    }
    if (reservation.outcome === 'unavailable') {
      const message = 'connection limits are unavailable, try again later';
      const retryAfterMs = reservation.retryAfterSeconds * 1_000;
      return reject(request, socket, head, { reason: 'store-unavailable', message, retryAfterMs, ...who });
    }
    let refusal: RefusalReason | 'socket-closed' | undefined;
    if (socket.destroyed) refusal = 'socket-closed';
    else if (shutdownPromise !== undefined) refusal = 'shutting-down';
    else if (resolved.maxConnections !== undefined && books.connections >= resolved.maxConnections) {
      refusal = 'process-limit';
    }
    if (
      refusal === undefined &&
      admitLocally(request, socket, head, userId, correlationId, data, connectionId)
    ) {
      book.admitted(userId, connectionId, reservation);
      return;
    }
    book.released(userId, connectionId);
    if (refusal === 'socket-closed') {
      reject(request, socket, head, {
        reason: refusal,
        message: 'client went away during admission',
        ...who,
      });
    } else if (refusal !== undefined) {
      reject(request, socket, head, { reason: refusal, message: refusalMessage[refusal], ...who });
    }
  }

  /** The cluster-wide reads need cluster mode. */
  function clusterOnly(): Promise<ClusterBook> {
    if (cluster !== undefined) return Promise.resolve(cluster);
    return Promise.reject(
      new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        '{ cluster: true } needs the cluster option of createSupervisor()',
      ),
    );
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
    const pace = shutdownPace(shutdownOptions.pace, deadlineMs);
    shuttingDown = true;
    const stopped = toPromise(hub as Actor<typeof hubMachine>);
    hub.send({
      type: 'SHUTDOWN',
      deadlineMs,
      code: CloseCodes.goingAway,
      reason: 'server shutting down',
      pace,
    });
    if (users.size === 0) allUsersEnded();
    shutdownPromise = stopped.then(async () => {
      closeRefusals.close(); // issue 11 (3): later refusals are HTTP; none outlives the shutdown
      // Issue 12: this node's slots and lease are released before shutdown resolves.
      await cluster?.stop();
      if (ownWss) wss.close();
    });
    return shutdownPromise;
  }

  const registry = createRegistry(books, users);

  return {
    options: resolved,
    attach,
    handleUpgrade,
    // Every handle carries the data its own authenticate returned: Data, by createSupervisor<Data>'s contract.
    connectionsOf: registry.connectionsOf as (userId: string) => ConnectionHandle<Data>[],
    connection: registry.connection as (connectionId: string) => ConnectionHandle<Data> | undefined,
    sendToUser: registry.sendToUser,
    broadcast: registry.broadcast,
    disconnectUser: registry.disconnectUser,
    stats: ((statsOptions?: StatsOptions) => {
      if (statsOptions?.cluster !== true) return collectStats(sources, statsOptions);
      const local = collectStats(sources, statsOptions);
      return clusterOnly()
        .then((book) => book.view())
        .then((global) => ({ ...local, global }));
    }) as Supervisor['stats'],
    userStats: ((userId: string, userOptions?: { cluster?: boolean }) => {
      if (userOptions?.cluster === true) {
        // A bad id is the caller's mistake: it must not reach the store (nor count toward its breaker).
        const problem = checkUserId(userId);
        if (problem !== undefined) {
          return Promise.reject(new SupervisorError('WSSUP_INVALID_ARGUMENT', `userStats: ${problem}`));
        }
        return clusterOnly().then((book) => book.userBook(userId));
      }
      const record = users.get(userId);
      return record === undefined ? undefined : userStatsOf(record, sources);
    }) as Supervisor['userStats'],
    audit: () => auditBooks(books, users),
    on: (name, listener) => events.on(name, listener),
    shutdown,
  };
}

/** Checks `pace` against the deadline; undefined when unpaced. */
function shutdownPace(
  pace: unknown,
  deadlineMs: number,
): { batches: number; intervalMs: number } | undefined {
  if (pace === undefined) return undefined;
  const invalid = (message: string) => new SupervisorError('WSSUP_INVALID_ARGUMENT', message);
  if (typeof pace !== 'object' || pace === null)
    throw invalid('pace must be an object { windowMs?, batches? }');
  const { windowMs = Math.floor(deadlineMs / 2), batches = 10 } = pace as ShutdownPace;
  if (!Number.isInteger(windowMs) || windowMs < 0 || windowMs > deadlineMs)
    throw invalid(`pace.windowMs must be an integer from 0 to deadlineMs (${deadlineMs}), got ${windowMs}`);
  if (!Number.isInteger(batches) || batches < 1 || batches > 10_000)
    throw invalid(`pace.batches must be an integer from 1 to 10000, got ${batches}`);
  if (batches === 1 || windowMs === 0) return undefined;
  return { batches, intervalMs: windowMs / batches };
}
