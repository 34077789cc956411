/**
 * createSupervisor(): the public runtime. It keeps one root user-supervisor
 * actor per user in a Map (each owns that user's connection actors), sends
 * each admission straight to it, keeps the process-wide count and the books
 * that stats() reads, and owns a small hub actor whose only job is the
 * shutdown's timing (its deadline, and its batches when paced). It turns the
 * machines' decisions into counters and events; the upgrade path that asks
 * them (src/upgrade.ts) and the answer to a refusal (src/rejections.ts) are
 * modules of their own.
 */
import { type Actor, type AnyActorRef, createActor, fromCallback, toPromise } from 'xstate';
import { withReconnectWithin } from '../machines/client-close.js';
import { CloseCodes } from '../machines/connection.machine.js';
import type { ConnectionOutput } from '../machines/events.js';
import { hubMachine } from '../machines/hub.machine.js';
import { userSupervisorMachine } from '../machines/user-supervisor.machine.js';
import { admissionState } from './admission-state.js';
import { type AttachableServer, type AttachOptions, attachToServer } from './attach.js';
import { auditBooks } from './audit.js';
import { Books, UserRecord } from './books.js';
import { afterWaitingIo, createCountingClock } from './clock.js';
import { INJECTED_CLOCK } from './clock-shape.js';
import { ClusterBook } from './cluster/cluster-admission.js';
import { createClusterHost } from './cluster/cluster-host.js';
import { openSlotStore } from './cluster/open-store.js';
import type { ConnectionHandle } from './connection-handle.js';
import { createConnectionIds } from './connection-id.js';
import { type AsyncDisposableIfTyped, withAsyncDispose } from './disposal.js';
import { secondsLikeWarnings } from './duration-floors.js';
import { carriesForeignSubclassCode, describeValue, type ReportedError, SupervisorError } from './errors.js';
import { EventWaiters } from './event-waiters.js';
import { type CapacityEvent, SupervisorEvents } from './events.js';
import { heartbeatOffer } from './heartbeat-message.js';
import { isolateInspect } from './inspect.js';
import { resolveOptions, type SupervisorOptions } from './options.js';
import { drainBatch, drainChunk, shutdownChunkOf } from './paced-drain.js';
import { Readiness } from './ready.js';
import { createRegistry } from './registry.js';
import { createRejections } from './rejections.js';
import { createSafely } from './safely.js';
import { deliveryRefused, messageFit, refusalReports } from './send-arguments.js';
import { createSendEdges } from './send-edges.js';
import { SOCKET_ADMISSIONS, SocketAdmissions } from './socket-admissions.js';
import { collectStats, type StatsOptions, type StatsSources, userStatsOf } from './stats.js';
import type { ShutdownOptions, ShutdownPace, Supervisor } from './supervisor-api.js';
import { onRejection } from './thenable.js';
import { CloseRefusals } from './transport/close-refusal.js';
import {
  ADMITTED,
  type ConnectionEnv,
  createWsConnectionMachine,
  type WsConnection,
} from './transport/ws-adapter.js';
import { WebSocketServer } from './transport/ws-peer.js';
import { createUpgradePath } from './upgrade.js';
import { userIdArgumentError } from './user-id.js';
import { createUserLimits } from './user-limit.js';

export type { ShutdownOptions, ShutdownPace, Supervisor };

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
 * // A SIGTERM handler replaces Node's default exit: the process ends once the server is closed,
 * // even when shutdown() rejects (cluster mode's stop failed). After shutdown() no supervised
 * // socket is left: closeAllConnections() cuts HTTP stragglers (a request whose headers never
 * // end holds close() forever).
 * process.on('SIGTERM', () =>
 *   void supervisor
 *     .shutdown() // 1001 to every client
 *     .catch((error: unknown) => console.error('shutdown failed', error))
 *     .finally(() => {
 *       httpServer.close();
 *       httpServer.closeAllConnections();
 *     }),
 * );
 * ```
 */
export function createSupervisor<Data = unknown>(appOptions: SupervisorOptions<Data>): Supervisor<Data> {
  const resolved = Object.freeze(resolveOptions(appOptions));
  // The tests' seam (paced-drain.ts, withShutdownChunk), checked with the options: nothing is allocated yet.
  const shutdownChunk = shutdownChunkOf(appOptions);
  // The runtime handles every connection as ConnectionHandle<unknown>; the app's hooks see Data.
  const options = appOptions as SupervisorOptions;
  const onError = options.onError ?? ((error: SupervisorError) => console.error(error));
  // Reporting runs inside actors, so it must not throw either; nor may an async
  // onError's rejection go unhandled (under Node's defaults it ends the process).
  // Printed, not reported again: an onError that fails would fail again (docs/options.md, onError).
  const reportFailed = (error: SupervisorError, failure: unknown, how: 'threw' | 'rejected') =>
    console.error(`ws-supervisor: onError ${how} while reporting`, error, failure);
  const report = (reported: SupervisorError) => {
    // onError's type narrows by code: one of a subclass's codes on another error (made outside
    // the library, which store-answers.ts already wraps) is reported as internal, with it as cause.
    const error = carriesForeignSubclassCode(reported)
      ? new SupervisorError('WSSUP_INTERNAL', reported.message, { cause: reported })
      : reported;
    try {
      onRejection(onError(error as ReportedError), (failure) => reportFailed(error, failure, 'rejected'));
    } catch (failure) {
      reportFailed(error, failure, 'threw');
    }
  };
  const events = new SupervisorEvents(report);
  // once()'s waits: rejected just before shutdown() resolves, after the last event it causes.
  const waiters = new EventWaiters('supervisor');
  const clock = createCountingClock(options.clock);
  /**
   * The default clock's timers hold the process open only while a connection is held (in any
   * state), an upgrade waits for `authenticate`, or shutdown() runs: a script or test runner that
   * lets its last connection go and closes its server exits, though a user supervisor lingers
   * (Node's convention: a library's background timers do not hold the process; sockets and
   * servers do). Called on the 0 ⇄ 1 edges of those counts only, never per message.
   * Not counted: cluster mode's wait for the book's reserve() (admitInCluster, before the
   * admission), harmless, since the upgrade's socket, the Redis client's socket and the
   * cluster's own clock (ref'd) keep the process up meanwhile.
   */
  function holdChanged(): void {
    clock.keepAlive(shuttingDown || books.handles.size > 0 || upgradePath.authenticating() > 0);
  }
  // Each limit's T, capacity thresholds and refusal message, the option's built now (user-limit.ts).
  const userLimits = createUserLimits(resolved);
  const books = new Books(userLimits.standard.capacity);
  const { counters } = books;
  /** userId → that user's supervisor: the only lookup on the admission path. */
  const users = new Map<string, UserRecord>();
  const nextConnectionId = createConnectionIds();
  const ownWss = options.webSocketServer === undefined;
  const wss =
    options.webSocketServer ??
    new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: resolved.maxPayloadBytes });
  const safely = createSafely(report);
  // A broadcast over idle connections takes their idle → live edges 500 a loop turn.
  const sendEdges = createSendEdges(afterWaitingIo);
  // The largest message a send buffer holds: every way of sending refuses a larger one.
  const fit = messageFit(resolved.maxBufferedBytes, resolved.heartbeatMessage);
  const env: ConnectionEnv = {
    wss,
    maxBufferedBytes: resolved.maxBufferedBytes,
    messageFit: fit,
    messageRate: resolved.messageRate,
    hooks: { onOpen: options.onOpen, onMessage: options.onMessage, onClose: options.onClose },
    report,
    now: clock.now,
    activity: resolved.activity,
    idleTimeoutMs: resolved.idleTimeoutMs,
    // Its supervisor hears what happened: active at the send, idle since its last activity. Its
    // book then orders it so (and tells the cluster's book), as for any idle edge; its guards
    // ignore a child it already books as leaving, and once told to drain all it hears no report.
    // In cluster mode that is a live edge, then the idle one: for one round trip Redis may show
    // it live (only after a stall of idleTimeoutMs, or a test's clock moved as far in one turn).
    idleSinceSend: safely('idleSinceSend', (connection: WsConnection) => {
      const supervisor = users.get(connection.userId)?.actor;
      if (supervisor === undefined) return;
      const { id: connectionId } = connection;
      supervisor.send({ type: 'CHILD_ACTIVE', connectionId });
      supervisor.send({ type: 'CHILD_IDLE', connectionId, lastActivityAt: connection.lastActivityAt() });
    }),
    // close() in a step of the connection's actor (onOpen; onMessage on an idle connection) or
    // of its supervisor (an `admitted`, `evicted` or `disposed` listener): its actor takes the
    // DRAIN only after that step, and tells its supervisor after that. The supervisor hears it
    // now instead, when it can take it; when it is in a step itself, the books say so ahead
    // of it (Books.leavingAhead). docs/sending.md: "A draining connection leaves connectionsOf at once".
    bookLeaving: safely('bookLeaving', (connection: WsConnection) => {
      const record = users.get(connection.userId);
      const { id: connectionId } = connection;
      // Usually booked already: its actor took the DRAIN at once and told its supervisor.
      if (record === undefined || !record.liveIds.includes(connectionId)) return;
      record.actor.send({ type: 'CHILD_DRAINING', connectionId });
      if (record.liveIds.includes(connectionId)) books.leavingAhead(record, connectionId);
    }),
    heartbeatMessage: resolved.heartbeatMessage,
    // An app's own heartbeatMessage goes to every connection, as before: no offer then.
    heartbeatOffer:
      resolved.heartbeatMessage === undefined ? heartbeatOffer(resolved.heartbeatIntervalMs) : undefined,
    books,
    maxRoomsPerConnection: resolved.maxRoomsPerConnection,
    sendEdges,
    listeners: 0,
    retryHints: resolved.retryAfterMs,
    // `refuse: 'close'`: an aborted handshake is refused as a new request would be.
    refuseByClose: (...args) => closeRefusals.adopt(...args),
  };
  const { evictAt } = userLimits.standard;
  const timings = Object.freeze({
    connectTimeoutMs: resolved.connectTimeoutMs,
    idleTimeoutMs: resolved.idleTimeoutMs,
    heartbeatIntervalMs: resolved.heartbeatIntervalMs,
    drainTimeoutMs: resolved.drainTimeoutMs,
  });
  // The app's observer never reaches XState bare: a throw would fail or wedge an actor.
  const appInspect = isolateInspect(options.inspect, report);
  const inspect = appInspect === undefined ? {} : { inspect: appInspect };

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
    if (books.handles.size === 0) holdChanged();
    // Its rooms go with it, here where the registry forgets it, if they did not as it started
    // draining (a dead peer, a dropped socket, shutdown's deadline): before onClose, which cannot rejoin.
    connection.leaveAllRooms();
    connection.uncountConnecting(); // if it never opened, nor started leaving before
    // A handshake aborted before it opened: the machine recorded no code, the transport knows the answer.
    const aborted = connection.abortAnswer;
    const info = {
      reason: output.reason,
      closeCode: output.closeCode ?? aborted?.closeCode,
      httpStatus: aborted?.httpStatus,
      lifetimeMs: clock.now() - connection.admittedAt,
      cleanupMs: connection.endedAt === undefined ? undefined : clock.now() - connection.endedAt,
      socketError: connection.socketError,
      opened: connection.handshakeDone,
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
        if (record === undefined) return;
        books.publish(record, book, context.live, context.idle);
        // The last connection is gone (it lingers from now, or ends in this step): the grace
        // of the `offline` event starts here, again at each departure (a connection admitted
        // and gone inside the grace restarts it). Writing leftAt at every publish would be as
        // right: a lingering supervisor publishes nothing, so the last before it ends is its
        // empty book's. The condition only saves a clock read per publish.
        if (book.live === 0 && book.draining === 0) record.leftAt = clock.now();
      },
      // Issue 10's rule: the `disposed` listener of the user's last connection (lingerMs 0, or a
      // shutdown) must not count a supervisor that this very step ends.
      publishEnded: ({ context }) => {
        const record = users.get(context.userId);
        if (record !== undefined) supervisorLeaves(record);
      },
      announceAdmitted: safely('announceAdmitted', ({ event }) => {
        if (event.type !== 'ADMIT') return;
        const connection = event.transport as WsConnection;
        connection.decision = ADMITTED;
        counters.admitted += 1;
        connection.countConnecting();
        books.handles.set(connection.id, connection);
        if (books.handles.size === 1) holdChanged();
        events.emit('admitted', {
          connectionId: connection.id,
          userId: connection.userId,
          correlationId: connection.correlationId,
        });
      }),
      announceRejected: safely('announceRejected', ({ event }, { reason }) => {
        if (event.type === 'ADMIT') (event.transport as WsConnection).decision = { admitted: false, reason };
      }),
      announceEvicted: safely('announceEvicted', ({ context, self }, { connectionId, userId, cause }) => {
        // The machine's EVICT to the child is sent after this step (XState defers sendTo),
        // but the `evicted` listener must find the connection draining, as the books say:
        // send() false, nothing sent ahead of its 4001. An active child is told now (the
        // deferred EVICT then finds it draining, and is ignored); a connecting one has no
        // socket to send on, and is left to the deferred EVICT (it would end at once).
        const slot = context.slots.get(connectionId);
        const { children } = self.getSnapshot() as { children: Record<string, AnyActorRef | undefined> };
        const child = slot === undefined ? undefined : children[slot];
        if (child?.getSnapshot().matches('active') === true) child.send({ type: 'EVICT', cause });
        // At the child's own idle edge that EVICT waits all the same: the child is in its step
        // (the idle delay's), and takes it after. Its transport refuses sends from now on.
        (books.handles.get(connectionId) as WsConnection | undefined)?.markEvicted();
        counters.evicted += 1;
        events.emit('evicted', { connectionId, userId, cause });
      }),
      markEvicted: safely('markEvicted', (_, { connectionIds }) => {
        for (const connectionId of connectionIds)
          (books.handles.get(connectionId) as WsConnection | undefined)?.markEvicted();
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
    const record = new UserRecord(userId, actor, userLimits.standard);
    users.set(userId, record);
    books.supervisorStarted();
    actor.subscribe({
      // After each of the supervisor's steps, once its own events are out. Not after
      // its last step: XState calls `next` before `complete`, while the ended actor is
      // still in the map and the books; supervisorEnded() announces it once it is not.
      next: (snapshot) => {
        if (snapshot.status !== 'active' || record.announcedBand === record.band) return;
        // Nor while a child this step ended at once (a connecting one drained or evicted)
        // waits to be forgotten: its done event is queued behind this step, and until that
        // step the books and the actors disagree. That step announces the net change.
        if (hasEndedChild(snapshot)) return;
        announceCapacity(record);
      },
      complete: () => {
        supervisorEnded(record);
        userLeft(record);
      },
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
    // An ADMIT step's events held for its answer come first: this later step follows them.
    emitHeldCapacity(record);
    const from = record.announcedBand;
    const to = record.band;
    if (from === to) return;
    record.announcedBand = to;
    const step = to > from ? 1 : -1;
    const crossed: CapacityEvent[] = [];
    for (let band = from; band !== to; band += step) {
      crossed.push({
        userId: record.userId,
        direction: step > 0 ? 'up' : 'down',
        level: resolved.capacityLevels[step > 0 ? band : band - 1] as number,
        band: to,
        live: record.book.live,
        limit: record.limit.limit,
      });
    }
    if (record.capacityHeld) {
      // The ADMIT step's own: they wait for its `rejected` (capacityReleased), or for
      // the user's next step, if a listener takes one first. Only this step's are held.
      record.capacityHeld = false;
      record.heldCapacity = crossed;
      return;
    }
    emitCapacity(crossed);
  }

  function emitHeldCapacity(record: UserRecord): void {
    const held = record.heldCapacity;
    if (held === undefined) return;
    record.heldCapacity = undefined;
    emitCapacity(held);
  }

  /**
   * The `capacity` events waiting to be told, in order. A listener that acts on the
   * supervisor (disconnectUser on an `up`) takes a step whose events join the end of
   * this line: they come after the rest of the batch being told, not in its middle
   * (with stale band and live). `alerts` counts each event as it is told.
   */
  const capacityLine: CapacityEvent[] = [];
  let tellingCapacity = false;

  function emitCapacity(crossed: readonly CapacityEvent[]): void {
    capacityLine.push(...crossed);
    if (tellingCapacity) return;
    tellingCapacity = true;
    try {
      for (let next = capacityLine.shift(); next !== undefined; next = capacityLine.shift()) {
        books.capacityAlerts += 1;
        events.emit('capacity', next);
      }
    } finally {
      tellingCapacity = false;
    }
  }

  /**
   * The upgrade whose ADMIT held its step's `capacity` events is answered (its `rejected`
   * is out, or it threw): announces what the step held, if no later step did already. A
   * band change the step did not announce (a child it ended at once is still to be
   * forgotten) is that later step's, as the subscription's `next` says.
   */
  function capacityReleased(record: UserRecord): void {
    record.capacityHeld = false;
    emitHeldCapacity(record);
  }

  /** Out of the map and the books (idempotent): in the step that ends it, or when it completes. */
  function supervisorLeaves(record: UserRecord): void {
    if (users.get(record.userId) === record) users.delete(record.userId);
    books.supervisorEnded(record);
  }

  function supervisorEnded(record: UserRecord): void {
    supervisorLeaves(record);
    announceCapacity(record);
    if (shuttingDown && users.size === 0) allUsersEnded();
  }

  /**
   * The user's supervisor ended on its own: its linger ran out with no new connection (or,
   * with `lingerMs: 0`, its last connection was just disposed). Not a shutdown's end: the
   * clients of a deploy come back to the next process, and a push for each would be false.
   * Not a failed supervisor's (`error`, a bug reported as WSSUP_INTERNAL).
   */
  function userLeft(record: UserRecord): void {
    if (shuttingDown || !events.heard('offline')) return;
    events.emit('offline', { userId: record.userId, leftAt: record.leftAt, offlineAt: clock.now() });
  }

  /**
   * A failed supervisor (a bug): XState stops none of its children (its
   * `_stopProcedure` leaves them running), so the runtime stops each as XState
   * stops the children of a parent that ends normally: with its `xstate.stop`
   * event (a child's `stop()` throws for a non-root actor). Not TERMINATE: that
   * leads to the child's final state, whose done event XState always sends to
   * its parent, and a failed parent is a stopped actor (XState's development
   * build warns). A stopped child reports to nobody; stopping it cancels its
   * delays and runs the undo of its transport subscription, which removes its
   * listeners and terminates its socket (ws-adapter.ts, #release). The runtime
   * counts them disposed; their slots go with them. A child still in its
   * handshake (admitted, not upgraded yet) is first answered as an upgrade
   * that failed unexpectedly, 500 `internal error` (close 4500 with `refuse:
   * 'close'`), as docs/rules.md promises (`WSSUP_INTERNAL`): its client is not left with a reset.
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
      const connection = transport as WsConnection;
      if (!connection.opened) {
        try {
          connection.abortHandshake('internal');
        } catch (failure) {
          // Unanswered, then: the stop below destroys its socket.
          report(new SupervisorError('WSSUP_INTERNAL', 'action abortHandshake failed', { cause: failure }));
        }
      }
      child.send({ type: 'xstate.stop' });
      outputs.push({ connectionId, userId, transport, reason: 'error', closeCode: undefined });
    }
    supervisorEnded(record);
    for (const output of outputs) disposed(output);
  }

  let shuttingDown = false;
  let allEndedSent = false;
  /** The user supervisors at the first chunk of the drain (none is added once shutting down), and the next to tell. */
  let untold: UserRecord[] | undefined;
  let nextUntold = 0;
  function allUsersEnded(): void {
    if (allEndedSent) return;
    allEndedSent = true;
    // Every way to `stopped` drops the untold list (it holds every user's record): a drain the
    // deadline cut short, or whose users all ended between chunks, never reaches EVERY_USER_TOLD.
    untold = undefined;
    nextUntold = 0;
    hub.send({ type: 'ALL_USERS_ENDED' });
  }

  const hub = createActor(
    hubMachine.provide({
      actors: {
        nextTurn: fromCallback(({ sendBack }) => {
          const { turn } = shutdownChunk;
          // A test's turn that throws (the default's setImmediate and clearImmediate do not) would
          // fail the hub: shutdown() rejected, sockets left open, the deadline never terminating
          // them. The drain goes on instead (the turn passed once, however often the test calls
          // back), and the deadline still ends it.
          let passed = false;
          const pass = () => {
            if (passed) return;
            passed = true;
            sendBack({ type: 'TURN_PASSED' });
          };
          const failed = (error: unknown) =>
            report(
              new SupervisorError('WSSUP_INTERNAL', "the shutdown chunk's turn failed", { cause: error }),
            );
          let id: unknown;
          try {
            id = turn.set(pass);
          } catch (error) {
            failed(error);
            pass();
            return undefined;
          }
          return () => {
            try {
              turn.clear(id);
            } catch (error) {
              failed(error);
            }
          };
        }),
      },
    }),
    { clock, ...inspect },
  );
  // The hub's requests arrive after its step: each supervisor steps on its own.
  hub.on('drainChunk', ({ size, code, reason }) => {
    untold ??= [...users.values()];
    const list = untold;
    const next = drainChunk(users, list, nextUntold, size, {
      type: 'DRAIN',
      code,
      reason,
      cause: 'shutdown',
    });
    // A guard only: the last users ended in this chunk (a lingering one stops at its SHUTDOWN) and
    // allUsersEnded() dropped the list; the hub has stopped and XState drops an EVERY_USER_TOLD sent now.
    if (untold === undefined) return;
    nextUntold = next;
    if (next >= list.length) {
      untold = undefined; // it holds every UserRecord: let the ended ones go
      hub.send({ type: 'EVERY_USER_TOLD' });
    }
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
      // Usually every supervisor was told by now (a pace window ends before the deadline),
      // so SHUTDOWN is ignored. Not when the deadline cuts the chunks short, or the clock jumps
      // past it in one step (a SimulatedClock advanced at once, an event loop stalled that
      // long): it fires before the later batches. The hub sends no batch or chunk after it
      // (it goes to `drained`): this tells every supervisor left. One still supervising drains
      // first, then terminates; one lingering (its last child ended in the jump) ends at this
      // SHUTDOWN and leaves `users` in that step: TERMINATE would reach a stopped actor
      // (XState's development build warns).
      record.actor.send({ type: 'SHUTDOWN', code: CloseCodes.goingAway, reason: 'server shutting down' });
      if (users.get(record.userId) === record) record.actor.send({ type: 'TERMINATE' });
    }
  });
  hub.start();

  // Cluster-wide sends go through the cluster book, created below (only called once it exists).
  const registry = createRegistry(
    books,
    users,
    fit,
    resolved.cluster === undefined
      ? undefined
      : resolved.cluster.store !== undefined && resolved.cluster.store.sendAcross === undefined
        ? 'the cluster store has no sendAcross(): { cluster: true } needs a store that implements it'
        : (delivery) => clusterOnly(CLUSTER_SENDS[delivery.kind]).then((book) => book.sendAcross(delivery)),
  );

  // Another process's cluster-wide sends this one's lower maxBufferedBytes refused: told at most
  // once per lease renewal period (a 30 Hz broadcast would be 30 errors a second).
  const deliveryRefusals = refusalReports(
    clock.now,
    Math.max(1, Math.floor((resolved.cluster?.leaseTtlMs ?? 0) / 3)),
    (method, size, since) => report(deliveryRefused(method, size, fit, since)),
  );

  // ready(): at once without cluster; with it, from the first lease (the lease actor says when).
  const readiness = new Readiness(resolved.cluster === undefined);

  // Issue 12: cluster mode's book, lease and breaker (src/cluster/); undefined without it.
  const cluster =
    resolved.cluster === undefined
      ? undefined
      : new ClusterBook(
          openSlotStore(resolved.cluster),
          resolved.cluster,
          createClusterHost({
            users,
            standard: userLimits.standard,
            clock: createCountingClock(options.clock),
            inspect: appInspect,
            report,
            deliver: (delivery) => {
              // Checked by its sender; a message that fails the checks here (another version's) is reported.
              try {
                const refused = registry.deliver(delivery);
                if (refused !== undefined) deliveryRefusals.refused(refused.method, refused.size);
              } catch (error) {
                // Nothing may escape into the Redis client's message handler; anything else is a bug of ours.
                report(
                  error instanceof SupervisorError
                    ? error
                    : new SupervisorError('WSSUP_INTERNAL', 'a cluster-wide send failed here', {
                        cause: error,
                      }),
                );
              }
            },
            breakerChanged: (breaker, shard) =>
              events.emit('store', {
                breaker,
                ...(shard === undefined ? {} : { shard }),
                nodeId: resolved.cluster?.nodeId ?? '',
                policy: resolved.cluster?.onStoreUnavailable ?? 'local',
              }),
            firstLeaseTaken: () => readiness.reached(),
            incarnationChanged: (incarnation, previous, cause) =>
              events.emit('incarnation', {
                nodeId: resolved.cluster?.nodeId ?? '',
                incarnation,
                previous,
                cause,
              }),
            // Emitted only when heard. The store tells one batch of purges at a time (an index
            // page), so no event holds a whole dead incarnation's users.
            reaped: (reaped) => {
              if (events.heard('reaped')) events.emit('reaped', reaped);
            },
            startRefused: (error) => readiness.refused(error),
            startFailed: (error) => readiness.failed(error),
            takeSends: (userId) => sendEdges.takeUser(userId),
          }),
        );

  const sources: StatsSources = {
    books,
    users,
    clock,
    listeners: () => env.listeners,
    closeRefusals: () => closeRefusals.inFlight,
    authenticating: () => upgradePath.authenticating(),
    cluster,
    admission: () => admissionState({ shuttingDown: () => shuttingDown, cluster }),
  };

  let shutdownPromise: Promise<void> | undefined;
  /** Set when shutdown() stops the cluster store: cluster-wide calls reject from then on. */
  let storeStopped = false;

  // The upgrade path (src/upgrade.ts) and its one way of refusing (src/rejections.ts).
  const reject = createRejections({ retryHints: resolved.retryAfterMs, closeRefusals, counters, events });
  // Which connection each socket carries, for serveForTest(): recorded only once it asks.
  const socketAdmissions = new SocketAdmissions();
  const upgradePath = createUpgradePath({
    options,
    resolved,
    wss,
    env,
    books,
    users,
    clock,
    report,
    reject,
    supervisorOf,
    capacityReleased,
    nextConnectionId,
    cluster,
    // The flag stats().admission reads, so the probe and the refusals never disagree.
    isShuttingDown: () => shuttingDown,
    userLimits,
    holdChanged,
    socketAdmissions,
  });
  holdChanged(); // nothing held yet
  const { handleUpgrade, refuseAuthenticating } = upgradePath;

  /**
   * The cluster-wide calls need cluster mode, and a store still running: once
   * shutdown() has stopped it (lease and slots given back, client closed), a call
   * is the app's mistake, not an outage, so it must not reach the store nor count
   * as a failure in its breaker (three would open it, and every later call would
   * then say WSSUP_STORE_UNAVAILABLE).
   */
  function clusterOnly(method: string): Promise<ClusterBook> {
    if (cluster === undefined) {
      return Promise.reject(
        new SupervisorError(
          'WSSUP_INVALID_ARGUMENT',
          '{ cluster: true } needs the cluster option of createSupervisor()',
        ),
      );
    }
    if (storeStopped) {
      return Promise.reject(
        new SupervisorError(
          'WSSUP_SHUTTING_DOWN',
          `${method}({ cluster: true }): the supervisor has shut down, its slot store is stopped`,
        ),
      );
    }
    return Promise.resolve(cluster);
  }

  /** The servers attach() hands every upgrade of (no path): once each, or each upgrade would come twice. */
  const attachedWithoutPath = new WeakSet<AttachableServer>();

  function attach(server: AttachableServer, attachOptions: AttachOptions = {}): () => void {
    if (shutdownPromise !== undefined) {
      throw new SupervisorError(
        'WSSUP_SHUTTING_DOWN',
        'cannot attach: shutdown() was called, and a supervisor does not start again: create a new one (in tests, one per test)',
      );
    }
    // Issue 13 (6): attach owns its path among the server's other upgrade listeners (src/attach.ts).
    return attachToServer(
      server,
      attachOptions,
      (request, socket, head) => {
        void handleUpgrade(request, socket, head);
      },
      attachedWithoutPath,
      () => shutdownPromise !== undefined,
    );
  }

  /**
   * shutdown()'s options, checked, the default deadline filled in.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT, naming what is wrong (shutdown() then shuts down unpaced: fallbackShutdownOptions)
   */
  function checkShutdownOptions(shutdownOptions: ShutdownOptions) {
    if (typeof shutdownOptions !== 'object' || shutdownOptions === null) {
      throw new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        `shutdown options must be an object { deadlineMs?, pace? }, got ${describeValue(shutdownOptions)}`,
      );
    }
    refuseUnknownKeys(shutdownOptions, ['deadlineMs', 'pace'], 'shutdown options');
    // Each read once: an accessor (or a Proxy) answers what was checked.
    const { deadlineMs: givenDeadlineMs, pace } = shutdownOptions;
    const windowMs: unknown =
      typeof pace === 'object' && pace !== null ? (pace as ShutdownPace).windowMs : undefined;
    // `=== undefined`, not `??`: a null is a bad value to refuse, not the default. With a pace
    // and no deadline, the window plus a drain: `pace: { windowMs: 20_000 }` alone was refused
    // (5 s default < 20 s), and only at SIGTERM (ops trial). A bad window keeps drainTimeoutMs
    // and is refused below by shutdownPace, naming the window.
    const deadlineMs =
      givenDeadlineMs !== undefined
        ? givenDeadlineMs
        : typeof windowMs === 'number' && Number.isInteger(windowMs) && windowMs >= 0
          ? Math.min(MAX_DEADLINE_MS, windowMs + resolved.drainTimeoutMs)
          : resolved.drainTimeoutMs;
    // Past setTimeout's ceiling Node runs a timer after 1 ms: through an app's clock the
    // deadline would terminate everything at once (the default clock would wake every ms).
    if (!Number.isInteger(deadlineMs) || deadlineMs < 0 || deadlineMs > MAX_DEADLINE_MS) {
      throw new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        `deadlineMs must be an integer from 0 to ${MAX_DEADLINE_MS}, got ${describeValue(deadlineMs)}`,
      );
    }
    return { deadlineMs, pace: shutdownPace(pace, deadlineMs, windowMs) };
  }

  function shutdown(shutdownOptions: ShutdownOptions = {}): Promise<void> {
    // Checked on every call, though the first call's options win: a later call with a bad
    // deadlineMs resolved with the first's promise, as if it were valid (ops trial).
    let checked: ReturnType<typeof checkShutdownOptions>;
    try {
      checked = checkShutdownOptions(shutdownOptions);
    } catch (error) {
      // A shutdown asked for must happen (newcomer trial): a bad pace used to start nothing, so
      // a SIGTERM handler's `.finally(() => server.close())` never called back, the connections
      // stayed open and the pod died by SIGKILL, every client cut at once. The defaults shut it
      // down, then the mistake rejects: rejected, not thrown, so that a `.catch(log)` hears it
      // (a NaN deadline once threw past it and ended the process before any 1001, CommonJS trial).
      const began = shutdownPromise === undefined;
      const fallback = fallbackShutdownOptions(shutdownOptions);
      const ended = began ? startShutdown(fallback) : (shutdownPromise as Promise<void>);
      const mistake = (failure?: unknown) =>
        Promise.reject(shutdownMistake(error, began, fallback.deadlineMs, failure));
      // Told now as well (a review): the rejection waits for the drain, and a pod killed before
      // it ends would never log why its shutdown ran unpaced.
      const now = shutdownMistake(error, began, fallback.deadlineMs, undefined);
      if (now instanceof SupervisorError) report(now);
      return ended.then(() => mistake(), mistake);
    }
    if (shutdownPromise !== undefined) return shutdownPromise;
    return startShutdown(checked);
  }

  /**
   * What a shutdown() whose options failed runs instead: no pace, and the call's own `deadlineMs`
   * when that is valid on its own (the operator's budget: `{ deadlineMs: 30_000, pace: { windowMs:
   * 40_000 } }` kept 30 s, not the 5 s drainTimeoutMs of production), else the default deadline.
   * Reading the options may throw (a getter): then the defaults.
   */
  function fallbackShutdownOptions(given: unknown): ReturnType<typeof checkShutdownOptions> {
    try {
      const deadlineMs =
        typeof given === 'object' && given !== null ? (given as ShutdownOptions).deadlineMs : undefined;
      if (deadlineMs !== undefined) return checkShutdownOptions({ deadlineMs });
    } catch {
      // Not valid on its own either: the defaults below.
    }
    return checkShutdownOptions({});
  }

  /** The options' error once the shutdown it did not stop has ended; the message says what ran instead. */
  function shutdownMistake(error: unknown, began: boolean, deadlineMs: number, failure: unknown): unknown {
    if (!(error instanceof SupervisorError)) return error;
    const instead = began
      ? `; shut down instead with no pace and deadlineMs ${deadlineMs}`
      : '; the shutdown already under way went on with its own options';
    return new SupervisorError(
      error.code,
      `${error.message}${instead}`,
      failure === undefined ? undefined : { cause: failure },
    );
  }

  function startShutdown({ deadlineMs, pace }: ReturnType<typeof checkShutdownOptions>): Promise<void> {
    shuttingDown = true;
    // Before any connection is told to leave: the releases that fail now are told once, at the end.
    cluster?.shutdownBegan();
    // Defensive: from here on the clock's timers (the deadline, the batches) stay ref'd. Nothing
    // was found that waits on this clock once a shutdown began with no connection held (a held
    // one is ref'd already, and its socket holds the process), and no test fails without it.
    holdChanged();
    // In the same tick as the flag: no waiter outlives the shutdown, nor waits for a lease it will never see.
    readiness.close(new SupervisorError('WSSUP_SHUTTING_DOWN', 'ready(): the supervisor is shutting down'));
    const stopped = toPromise(hub as Actor<typeof hubMachine>);
    // Set before the hub's SHUTDOWN: its first chunk runs inside that send, and a listener
    // calling shutdown() there (`capacity`, `disposed`) must get this promise, not start the
    // work below a second time.
    shutdownPromise = stopped.then(async () => {
      closeRefusals.close(); // issue 11 (3): later refusals are HTTP; none outlives the shutdown
      sendEdges.close(); // every connection has ended: an edge still waiting has nothing left to tell
      refuseAuthenticating(); // nor a socket waiting for an authenticate that never settles
      // Issue 12: this node's slots and lease are released before shutdown resolves.
      storeStopped = true;
      try {
        await cluster?.stop();
        if (ownWss) wss.close();
      } finally {
        // Not at the start: a wait for the shutdown's own `disposed` events must still resolve.
        // Before shutdown() resolves, so that a wait never outlives it, even when the store's stop fails.
        waiters.close(new SupervisorError('WSSUP_SHUTTING_DOWN', 'the supervisor has shut down'));
      }
    });
    hub.send({
      type: 'SHUTDOWN',
      deadlineMs,
      code: CloseCodes.goingAway,
      // Paced over at least the client's default 10 s: each 1001 tells the client its batch's
      // interval (client-close.ts), so that it comes back within that, not within its whole
      // shutdownWindowMs on top of the pacing (ops trial). Shorter: no hint (review).
      reason: pace === undefined ? 'server shutting down' : withReconnectWithin('server shutting down', pace),
      pace,
      chunkSize: shutdownChunk.connections,
    });
    // A request whose authenticate has not settled would be refused at its verdict anyway
    // (shutting-down): answered now, and its signal aborted, so the app's lookup stops. An
    // upgrade that comes later is refused before authenticate runs (isShuttingDown): the call
    // at the end is for one whose own authenticate called shutdown(), its wait not begun yet.
    refuseAuthenticating();
    if (users.size === 0) allUsersEnded();
    return shutdownPromise;
  }

  // Durations that read as seconds on real time (duration-floors.ts): legal, kept, told once.
  // After createSupervisor() has returned, as the cluster's warnings are: onError may read its result.
  const unitWarnings = secondsLikeWarnings(options, resolved);
  if (unitWarnings.length > 0) queueMicrotask(() => unitWarnings.forEach(report));

  const supervisor: Omit<Supervisor<Data>, keyof AsyncDisposableIfTyped> = {
    options: resolved,
    attach,
    handleUpgrade,
    // Every handle carries the data its own authenticate returned: Data, by createSupervisor<Data>'s contract.
    connectionsOf: registry.connectionsOf as (userId: string) => ConnectionHandle<Data>[],
    connection: registry.connection as (connectionId: string) => ConnectionHandle<Data> | undefined,
    // One implementation, whose result type follows `options.cluster` as the overloads say.
    sendToUser: registry.sendToUser as Supervisor['sendToUser'],
    broadcast: registry.broadcast as Supervisor['broadcast'],
    disconnectUser: registry.disconnectUser as Supervisor['disconnectUser'],
    sendToRoom: registry.sendToRoom as Supervisor['sendToRoom'],
    roomMembers: registry.roomMembers as (room: string) => ConnectionHandle<Data>[],
    roomSize: registry.roomSize,
    roomNames: registry.roomNames,
    stats: ((statsOptions?: StatsOptions) => {
      // Each option read once (readStatsOptions): the form chosen is the one checked.
      const { values, cluster, invalid } = readStatsOptions(
        statsOptions,
        ['perUser', 'cluster', 'maxBooks'],
        'stats',
      );
      if (invalid !== undefined) {
        // The cluster form returns a promise: its caller's .catch() sees the mistake, as
        // shutdown()'s does. The plain form returns none, so it throws.
        if (cluster) return Promise.reject(invalid.error);
        throw invalid.error;
      }
      const local = collectStats(sources, { perUser: values.perUser });
      if (!cluster) return local;
      const { maxBooks } = values;
      return clusterOnly('stats')
        .then((book) => (maxBooks === undefined ? book.view() : book.view({ maxBooks })))
        .then((global) => ({ ...local, global }));
    }) as Supervisor['stats'],
    userStats: ((userId: string, userOptions?: { cluster?: boolean }) => {
      const { cluster, invalid: badOptions } = readStatsOptions(userOptions, ['cluster'], 'userStats');
      if (badOptions !== undefined) {
        if (cluster) return Promise.reject(badOptions.error);
        throw badOptions.error;
      }
      // A bad id is the caller's mistake, as for connectionsOf(): not a user without a
      // connection (undefined), and in cluster mode it must not reach the store (nor its breaker).
      const invalid = userIdArgumentError('userStats', userId);
      if (cluster) {
        if (invalid !== undefined) return Promise.reject(invalid);
        return clusterOnly('userStats').then((book) => book.userBook(userId));
      }
      if (invalid !== undefined) throw invalid;
      const record = users.get(userId);
      return record === undefined ? undefined : userStatsOf(record);
    }) as Supervisor['userStats'],
    audit: () => auditBooks(books, users),
    on: (name, listener) => events.on(name, listener),
    once: function once(name: Parameters<typeof events.on>[0], ...args: unknown[]) {
      return waiters.wait(name, (listener) => events.on(name, listener), args, undefined, once);
    } as Supervisor['once'],
    ready: (readyOptions) => readiness.wait(readyOptions),
    shutdown,
  };
  // For serveForTest(), which must move this clock: not enumerable, not in options.
  Object.defineProperty(supervisor, INJECTED_CLOCK, { value: options.clock });
  // For serveForTest()'s open(), which tells a test its client's connection id: off until called.
  Object.defineProperty(supervisor, SOCKET_ADMISSIONS, { value: () => socketAdmissions.start() });
  // `await using`'s end of scope: no options to get wrong, and once a shutdown has begun
  // (the app's own, with its options) the same promise: resolved at once after it ended.
  return withAsyncDispose(supervisor, () => shutdown());
}

/** Whether a child of the supervisor has ended and is not forgotten yet. O(children): only on a band change. */
function hasEndedChild(snapshot: { children: Record<string, AnyActorRef | undefined> }): boolean {
  for (const child of Object.values(snapshot.children)) {
    if (child !== undefined && child.getSnapshot().status !== 'active') return true;
  }
  return false;
}

/** The method behind each kind of cluster-wide send, for the messages. */
const CLUSTER_SENDS = {
  send: 'sendToUser',
  disconnect: 'disconnectUser',
  broadcast: 'broadcast',
  room: 'sendToRoom',
} as const;

/** The longest delay a timer can hold (setTimeout's ceiling, as for every option in ms). */
const MAX_DEADLINE_MS = 2_147_483_647;

/** As createSupervisor() refuses unknown options: a misspelt key must not fall back to a default. */
function refuseUnknownKeys(value: object, known: readonly string[], what: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        `${what}: unknown key ${key}, expected one of ${known.join(', ')}`,
      );
    }
  }
}

/**
 * The options of stats() or userStats(), each known key read once, as checkedRefusalFields()
 * reads a Refusal: what is checked is what is used (a `cluster` getter that answered true to
 * the check and false afterwards made the cluster form synchronous). `cluster` is whether the
 * call is the cluster form (`cluster: true`), which returns a promise, also for options refused
 * for another key; `invalid` holds what checkStatsOptions threw, for options it refuses.
 */
function readStatsOptions(
  options: unknown,
  known: readonly string[],
  what: string,
): { values: StatsOptions; cluster: boolean; invalid?: { error: unknown } | undefined } {
  const reads = new Map<string, StatsRead>();
  if (typeof options === 'object' && options !== null) {
    for (const key of known) {
      try {
        reads.set(key, { value: (options as Record<string, unknown>)[key] });
      } catch (thrown) {
        reads.set(key, { thrown });
      }
    }
  }
  const readValue = (key: string): unknown => {
    const read = reads.get(key);
    return read !== undefined && 'value' in read ? read.value : undefined;
  };
  const values = {
    perUser: readValue('perUser'),
    cluster: readValue('cluster'),
    maxBooks: readValue('maxBooks'),
  } as StatsOptions;
  const cluster = values.cluster === true;
  try {
    checkStatsOptions(options, reads, known, what);
    return { values, cluster };
  } catch (error) {
    return { values, cluster, invalid: { error } };
  }
}

/** One option's value as read once, or what its getter threw. */
type StatsRead = { value: unknown } | { thrown: unknown };

/**
 * The options of stats() and userStats(): undefined, or an object of booleans
 * under the known keys. null would fail as a TypeError, and a string, a typo
 * or `cluster: 'true'` would be read as no option (sync local stats, not a Promise).
 * stats()'s `maxBooks` is a positive integer, and only with `cluster: true`: alone it
 * would bound nothing (the local stats read no book from the store).
 * Checks the values readStatsOptions() read, not the object's getters again.
 */
function checkStatsOptions(
  options: unknown,
  reads: ReadonlyMap<string, StatsRead>,
  known: readonly string[],
  what: string,
): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `${what} options must be an object { ${known.join('?, ')}? }, got ${describeValue(options)}`,
    );
  }
  refuseUnknownKeys(options, known, `${what} options`);
  for (const key of known) {
    const read = reads.get(key);
    if (read !== undefined && 'thrown' in read) throw read.thrown;
    const value = read?.value;
    if (key === 'maxBooks') {
      if (value === undefined) continue;
      if (!Number.isSafeInteger(value) || (value as number) < 1) {
        throw new SupervisorError(
          'WSSUP_INVALID_ARGUMENT',
          `${what} options: maxBooks must be an integer of at least 1, got ${describeValue(value)}`,
        );
      }
      const cluster = reads.get('cluster');
      if (cluster === undefined || !('value' in cluster) || cluster.value !== true) {
        throw new SupervisorError(
          'WSSUP_INVALID_ARGUMENT',
          `${what} options: maxBooks bounds the cluster-wide read, so it needs cluster: true (${what}({ cluster: true, maxBooks }))`,
        );
      }
      continue;
    }
    if (value !== undefined && typeof value !== 'boolean') {
      throw new SupervisorError('WSSUP_INVALID_ARGUMENT', `${what} options: ${key} must be a boolean`);
    }
  }
}

/** Checks `pace` against the deadline; undefined when unpaced. */
function shutdownPace(
  pace: unknown,
  deadlineMs: number,
  givenWindowMs: unknown,
): { batches: number; intervalMs: number; windowMs: number } | undefined {
  if (pace === undefined) return undefined;
  const invalid = (message: string) => new SupervisorError('WSSUP_INVALID_ARGUMENT', message);
  if (typeof pace !== 'object' || pace === null)
    throw invalid('pace must be an object { windowMs?, batches? }');
  refuseUnknownKeys(pace, ['windowMs', 'batches'], 'pace');
  const windowMs = (givenWindowMs === undefined ? Math.floor(deadlineMs / 2) : givenWindowMs) as number;
  const { batches = 10 } = pace as ShutdownPace;
  if (!Number.isInteger(windowMs) || windowMs < 0 || windowMs > deadlineMs)
    throw invalid(
      `pace.windowMs must be an integer from 0 to deadlineMs (${deadlineMs}), got ${describeValue(windowMs)}`,
    );
  if (!Number.isInteger(batches) || batches < 1 || batches > 10_000)
    throw invalid(`pace.batches must be an integer from 1 to 10000, got ${describeValue(batches)}`);
  if (batches === 1 || windowMs === 0) return undefined;
  return { batches, intervalMs: windowMs / batches, windowMs };
}
