/**
 * The upgrade path: from an HTTP upgrade request to an admitted, open
 * WebSocket or a refusal. It refuses what ws would refuse before anything
 * else (issue 13 (2)), asks the app's `authenticate`, checks the user id,
 * the process-wide limit and the user's admission rate, reserves the slot in
 * the cluster-wide book in cluster mode (issue 12), and lets the user's
 * supervisor decide; the handshake completes only once the machines have
 * admitted the connection.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { types } from 'node:util';
import type { WebSocketServer } from 'ws';
import type { AtLimitPolicy, InstanceClaim, RefusalReason } from '../machines/events.js';
import { takeAdmissionToken } from './admission-rate.js';
import { isOriginAllowed } from './allowed-origins.js';
import { atLimitProblem, unknownAuthKeysProblem } from './auth-result.js';
import { AuthenticateCall, abandon, isSettled, settle as settleCall } from './authenticate-context.js';
import type { Books, UserRecord } from './books.js';
import { type InstanceParam, instanceParamOf } from './client-instance.js';
import type { CountingClock } from './clock.js';
import type { ClusterBook, Reservation } from './cluster/cluster-admission.js';
import { AppHookError, InvalidOptionError, SupervisorError } from './errors.js';
import { expiresAtInSeconds, expiresAtOf } from './expires-at.js';
import {
  type AuthResult,
  type ResolvedOptions,
  type SupervisorOptions,
  VERIFY_CLIENT_EXPECTED,
} from './options.js';
import { checkedRefusalFields, Refusal } from './refusal.js';
import type { Reject, Rejection } from './rejections.js';
import type { SocketAdmissions } from './socket-admissions.js';
import { isThenable } from './thenable.js';
import { checkHandshake } from './transport/handshake.js';
import { type ConnectionEnv, WsConnection } from './transport/ws-adapter.js';
import { dropUnusableUpgrade, isUpgradedElsewhere, upgradeArgumentsError } from './upgrade-arguments.js';
import { authResultError, correlationIdOf, userIdProblem } from './user-id.js';
import { type UserLimit, type UserLimits, userLimitProblem } from './user-limit.js';
import { hasVerifyClient } from './ws-server-shape.js';

export interface UpgradeDeps {
  options: SupervisorOptions;
  resolved: ResolvedOptions;
  wss: WebSocketServer;
  env: ConnectionEnv;
  books: Books;
  /** userId → that user's supervisor. */
  users: ReadonlyMap<string, UserRecord>;
  clock: CountingClock;
  report: (error: SupervisorError) => void;
  reject: Reject;
  /** The user's supervisor, started on the user's first admission. */
  supervisorOf: (userId: string) => UserRecord;
  /** Ends record.capacityHeld, and announces the `capacity` events it held. */
  capacityReleased: (record: UserRecord) => void;
  nextConnectionId: () => string;
  /** Cluster mode's book; undefined without it. */
  cluster: ClusterBook | undefined;
  /** True once shutdown() was called: later requests are refused with 503. */
  isShuttingDown: () => boolean;
  /** Each limit's T, thresholds and refusal message (authenticate's maxConnectionsPerUser). */
  userLimits: UserLimits;
  /** `authenticating()` went from 0 to 1 or back: whether the clock's timers hold the process may change. */
  holdChanged: () => void;
  /** Told each admission's socket, for serveForTest() (a no-op unless it asked). */
  socketAdmissions: SocketAdmissions;
}

/** One authenticated upgrade request on its way to a decision. */
interface Attempt {
  request: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  userId: string;
  correlationId: string | undefined;
  /** The app data from authenticate (issue 11, item 2). */
  data: unknown;
  /** authenticate's expiresAt (epoch ms on the wall clock), validated; undefined: none. */
  expiresAt: number | undefined;
  /** The limit this admission is decided against: authenticate's maxConnectionsPerUser, or the option's. */
  limit: UserLimit;
  /**
   * The client instance it comes from (`wssup-instance`), else undefined: `connection.instance`,
   * and, with the `supersede` option on, the claim its admission replaces a predecessor by.
   */
  instance: InstanceClaim | undefined;
  /** What it does at the user's limit: authenticate's atLimit, or the option's. */
  atLimit: AtLimitPolicy;
}

/** An upgrade request waiting for the app's asynchronous `authenticate`. */
interface Authenticating {
  request: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  /** Bounds the wait (authenticateTimeoutMs), on the supervisor's clock. */
  timer: unknown;
  /** Ends the wait without a verdict, once the request was answered (timeout, shutdown). */
  stop: () => void;
  /** authenticate's second argument: its signal aborts when the wait ends without a verdict. */
  context: AuthenticateCall;
  /** What authenticate settled with, once it has (its continuation may not have run yet). */
  peek: () => AuthOutcome | undefined;
}

/** What `authenticate` settled with. */
type AuthOutcome = { auth: AuthResult } | { error: unknown };

/** A verdict still to come: a promise, or anything `await` would wait for. */
const isPending = (verdict: unknown): verdict is PromiseLike<AuthResult> => isThenable(verdict);

/**
 * An Error that authenticate returned instead of throwing it. Not a Refusal, ours or
 * another copy's that this one cannot honour (named so: a 500 whose report says why, user-id.ts).
 */
const isReturnedError = (auth: unknown): auth is Error =>
  // isNativeError: an Error of another realm (a vm context) too, which instanceof misses.
  (auth instanceof Error || types.isNativeError(auth)) &&
  !(auth instanceof Refusal) &&
  auth.name !== 'Refusal';

/**
 * An Error named Refusal that is no Refusal this copy honours (`instanceof` said no): another
 * copy's with a status this one does not know, or one of a version without the mark. Answered
 * 500 before its fields are read as a result's: its `userId` must not make it a 400 (which
 * suspends the package's client) nor its `status` an "unknown key".
 */
const isUnhonouredRefusal = (auth: unknown): auth is Error =>
  (auth instanceof Error || types.isNativeError(auth)) && auth.name === 'Refusal';

/**
 * What onError gets for an Error that authenticate returned (or resolved to), the JavaScript
 * habit of Socket.IO's `next(new Error(…))`: a failing hook, as if it had thrown it (500 or
 * 4500), with that Error as its cause and a message saying what to do instead.
 */
function returnedError(returned: Error): AppHookError {
  const error = new AppHookError('authenticate', returned);
  const was = error.message;
  error.message = `App hook authenticate returned an Error: throw it, or return a Refusal to choose the status (its message: ${returned.message})`;
  // A stack already read (V8 writes it on first read) names the old message: the new one, as is
  // (a function, so that `$&` in the app's message is no replacement pattern).
  if (typeof error.stack === 'string') error.stack = error.stack.replace(was, () => error.message);
  return error;
}

/** The correlationId a verdict names, if it is a usable one (not of an Error or Refusal). */
const verdictCorrelationId = (auth: AuthResult): string | undefined =>
  typeof auth === 'object' && auth !== null && !(auth instanceof Error || types.isNativeError(auth))
    ? correlationIdOf(auth.correlationId).correlationId
    : undefined;

/**
 * What `verdict` settles with, or undefined as soon as `stop()` is called:
 * the upgrade path stops waiting for an app's promise that may never settle.
 * Kept apart from the request on purpose: such a promise holds these few
 * closures and the call (no request in it), not the request, its socket or
 * the upgrade's frame. Marks the call settled as the verdict comes, before
 * the waiting upgrade's continuation runs: a timeout or a shutdown between
 * the two must not abort a signal whose authenticate has settled.
 */
function stoppable(
  verdict: PromiseLike<AuthResult>,
  call: AuthenticateCall,
): {
  outcome: Promise<AuthOutcome | undefined>;
  stop: () => void;
  peek: () => AuthOutcome | undefined;
} {
  let stop: () => void = () => {};
  let came: AuthOutcome | undefined;
  const outcome = new Promise<AuthOutcome | undefined>((settle) => {
    stop = () => settle(undefined);
    try {
      verdict.then(
        (auth) => {
          settleCall(call);
          came = { auth };
          settle(came);
        },
        (error: unknown) => {
          settleCall(call);
          settle({ error });
        },
      );
    } catch (error) {
      settleCall(call);
      // A thenable whose `then` throws fails as `await` would fail it. Settled, not
      // rejected: the wait must still end in authenticated(), or its timer and
      // entry would outlive the answer and refuse the request again at the timeout.
      settle({ error });
    }
  });
  return { outcome, stop, peek: () => came };
}

export interface UpgradePath {
  /** The supervisor's `handleUpgrade`. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void>;
  /**
   * Answers 503 (shutting down) every request whose `authenticate` has not
   * settled yet, clears its timer and aborts its signal; its verdict, if it
   * ever comes, is then ignored. At the start of shutdown (the verdict would
   * be refused as shutting-down anyway, and the app's lookup can stop), and
   * again at its end: the socket must not outlive it (and keep the HTTP
   * server from closing) until `authenticateTimeoutMs`.
   */
  refuseAuthenticating(): void;
  /**
   * Upgrade requests whose asynchronous `authenticate` has not settled, nor
   * been answered otherwise (stats().resources.authenticating), O(1).
   */
  authenticating(): number;
}

/** Returns the supervisor's upgrade path. */
export function createUpgradePath(deps: UpgradeDeps): UpgradePath {
  const {
    options,
    resolved,
    wss,
    env,
    books,
    users,
    clock,
    report,
    supervisorOf,
    capacityReleased,
    nextConnectionId,
    cluster,
    isShuttingDown,
    holdChanged,
    userLimits,
    socketAdmissions,
  } = deps;
  /** A verifyClient set on the server after createSupervisor(), with the option's 'replace-oldest', was reported. */
  let verifyClientReported = false;

  // The user-limit message for the option's limit; a user's own limit has its own (UserLimit.refusal).
  const refusalMessage: Record<RefusalReason, string> = {
    'user-limit': userLimits.standard.refusal,
    'process-limit': `server has reached the maximum number of connections (${resolved.maxConnections})`,
    'shutting-down': 'server is shutting down',
  };

  const rateLimitMessage =
    resolved.admissionRate === undefined
      ? ''
      : `user is connecting too often (at most ${resolved.admissionRate.perSecond}/s, burst ${resolved.admissionRate.burst})`;

  /**
   * Every socket handed to this supervisor's `handleUpgrade`. A second
   * hand-over of one socket (the supervisor attached and also called from the
   * app's own upgrade listener) would admit it twice over one TCP connection,
   * and the second handshake would tear down the first. Weak: an entry goes
   * with its socket; owned by this supervisor, as everything it keeps.
   */
  const handedOver = new WeakSet<Duplex>();

  /**
   * The sockets this path has let go of: answered (or handed to a close
   * refusal), or given to a connection actor. If the upgrade then fails
   * unexpectedly, what was written to such a socket, or who holds it, is not
   * known here, so it is destroyed; any other is answered as an internal error.
   */
  const letGo = new WeakSet<Duplex>();

  /**
   * A client that went away before the decision: its socket was destroyed (a
   * reset, or a close Node saw), or its readable side ended (a FIN, which
   * Node's HTTP server leaves half-open). Nothing is left to answer. Or another 'upgrade'
   * listener of the server answered it and ended it (this path writes nothing before its
   * decision): a ws server with a path of its own answers 400 to every other path.
   */
  const isGone = (socket: Duplex): boolean =>
    socket.destroyed || socket.readableEnded || socket.writableEnded;

  /**
   * Ended by another 'upgrade' listener, not by the client: this path writes nothing before
   * its decision, so an ended writable side is someone else's answer, still being flushed
   * (ws destroys the socket once its 400 is written, after which it cannot be told apart).
   */
  const isAnsweredElsewhere = (socket: Duplex): boolean => socket.writableEnded && !socket.destroyed;
  const answeredElsewhere = 'ended by another upgrade listener';

  /**
   * Refuses a client that went away (isGone): told as any refusal, then its half-open socket
   * destroyed. One another listener ended is left to it: destroyed now, its answer could be lost.
   */
  const refuseGone: Reject = (request, socket, head, rejection) => {
    reject(request, socket, head, rejection);
    if (!socket.destroyed && !socket.writableEnded && !isUpgradedElsewhere(socket)) socket.destroy();
  };

  /**
   * Every refusal of this path goes through here, once the socket is marked as let go. A
   * socket another server upgraded while this path awaited is not answered (see leftElsewhere);
   * nor marked, so an unexpected failure after that does not destroy it either.
   */
  const reject: Reject = (request, socket, head, rejection) => {
    if (isUpgradedElsewhere(socket)) return leftElsewhere();
    letGo.add(socket);
    deps.reject(request, socket, head, rejection);
  };

  /**
   * Another WebSocket server of the same http server has upgraded the socket: its 101 is
   * written and its WebSocket lives on it, so this path writes nothing, admits nothing and
   * counts no refusal; it only says so, once per socket (whoever finds it returns at once).
   * Found at the start of upgrade() when that server's 'upgrade' listener ran first (it was
   * created before attach(server)); after this path's first microtask when it runs second, in
   * the same emit (created after: ws upgrades synchronously in its listener); and after each
   * later await when it upgrades later still (Engine.IO with a middleware).
   */
  function leftElsewhere(): void {
    const message =
      'handleUpgrade(): this socket was already upgraded by another WebSocket server of the same ' +
      'http server (a ws WebSocketServer created with { server }?), and is left to it: give attach() ' +
      'a path of its own (attach(server, { path: "/ws" })), or remove the other server';
    report(new SupervisorError('WSSUP_INVALID_ARGUMENT', message));
  }

  /**
   * The supervisor's `handleUpgrade`, which never rejects (under attach() a
   * rejection would be unhandled, and end the process under Node's defaults):
   * whatever throws on the way is reported, and the socket answered as an
   * internal error (HTTP 500, close 4500 with `refuse: 'close'`) when nothing
   * was written to it yet, else destroyed; no client waits for an answer
   * that will not come.
   */
  function handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const slip = upgradeArgumentsError(request, socket);
    if (slip !== undefined) {
      report(slip);
      dropUnusableUpgrade(request, socket);
      return Promise.resolve();
    }
    return upgrade(request, socket, head).catch((error: unknown) => {
      const message =
        'handleUpgrade failed unexpectedly (a bug in ws-supervisor, or an authenticate result that throws when read)';
      report(new SupervisorError('WSSUP_INTERNAL', message, { cause: error }));
      if (!letGo.has(socket)) {
        try {
          return reject(request, socket, head, { reason: 'internal-error', message: 'internal error' });
        } catch {
          // Fall through: the answer failed as well, so the socket is let go without one.
        }
      }
      // What was written to it, or who holds it, is unknown: let it go rather than answer twice.
      if (!socket.destroyed) socket.destroy();
    });
  }

  async function upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (handedOver.has(socket)) {
      // Left to the call that has it: answering here would break that connection.
      const message =
        'handleUpgrade() was called more than once with the same socket: is the supervisor attached to ' +
        'this server and also called from an upgrade listener?';
      return report(new SupervisorError('WSSUP_INVALID_ARGUMENT', message));
    }
    if (isUpgradedElsewhere(socket)) return leftElsewhere();
    handedOver.add(socket);
    if (!Buffer.isBuffer(head)) {
      // A caller's slip (JavaScript, or `head` dropped from the listener): without
      // it the handshake can never complete, so the admitted connection would hold
      // its slot until connectTimeoutMs. Said at once, and nothing is admitted.
      const error = new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        "handleUpgrade(request, socket, head): head must be the Buffer of Node's 'upgrade' event",
      );
      report(error);
      const refusal = { reason: 'bad-handshake', status: 500, message: 'Internal Server Error' } as const;
      return reject(request, socket, Buffer.alloc(0), refusal);
    }
    // Until a decision, an error on the raw socket must not crash the process: from here on,
    // since the listeners after this one run before the microtask below ends, and may make it
    // error (a failed write, a destroy(error)) while Node's HTTP server has let it go.
    const ignore = () => {};
    socket.on('error', ignore);
    try {
      // The 'upgrade' listeners after this one (another WebSocket server made after
      // attach(server)) run in this same emit, synchronously: one microtask lets them take
      // the socket, or answer it, before any refusal below is written into it.
      await undefined;
      if (isUpgradedElsewhere(socket)) return leftElsewhere();
      if (socket.destroyed || socket.writableEnded) {
        // Nothing was read or written since the 'upgrade' event: a listener before this one
        // (a ws server with a path of its own answers 400 to every other path) or after it
        // answered the socket, or destroyed it. That stands, and nothing is decided here.
        return refuseGone(request, socket, head, { reason: 'socket-closed', message: answeredElsewhere });
      }
      // Issue 13 (2): refuse what ws would refuse before authenticate and admission,
      // so a malformed request is never admitted and never evicts anything.
      const badHandshake = checkHandshake(request, wss);
      if (badHandshake !== undefined) {
        if (badHandshake.error !== undefined) report(badHandshake.error);
        return reject(request, socket, head, { reason: 'bad-handshake', ...badHandshake });
      }
      // Also before authenticate: a client that asks to replace its earlier connection, and
      // could not, would hold two slots without knowing. With `supersede` off nothing is
      // replaced, so a malformed one is refused for nothing: it is none (connection.instance).
      const instanceParam: InstanceParam = instanceParamOf(request.url);
      if ('problem' in instanceParam && resolved.supersede) {
        return reject(request, socket, head, { reason: 'bad-handshake', message: instanceParam.problem });
      }
      // Before authenticate: a page of another site costs no app call, no actor and no slot.
      if (resolved.allowedOrigins !== undefined && !isOriginAllowed(resolved.allowedOrigins, request)) {
        return reject(request, socket, head, { reason: 'origin-not-allowed', message: 'origin not allowed' });
      }
      if (isShuttingDown()) {
        return reject(request, socket, head, { reason: 'shutting-down', message: 'server is shutting down' });
      }
      let outcome: AuthOutcome | undefined;
      try {
        const context = new AuthenticateCall(resolved.authenticateTimeoutMs);
        const verdict = options.authenticate(request, context);
        // A synchronous verdict is awaited as ever (one microtask), and needs no timer; its
        // context is never aborted (nothing was left waiting).
        outcome = isPending(verdict)
          ? await authenticated(verdict, request, socket, head, context)
          : { auth: await verdict };
      } catch (error) {
        outcome = { error };
      }
      // Answered without a verdict while authenticate ran: timed out, or shut down.
      if (outcome === undefined) return;
      let auth: AuthResult;
      if ('error' in outcome) {
        const { error } = outcome;
        if (!(error instanceof Refusal)) {
          report(new AppHookError('authenticate', error));
          return reject(request, socket, head, { reason: 'auth-failed', message: 'authentication failed' });
        }
        auth = error; // issue 11 (3): a thrown Refusal is the app's answer, not a failure
      } else if (isReturnedError(outcome.auth)) {
        // Socket.IO's next(new Error(…)) habit, in JavaScript: a returned Error is a thrown one.
        report(returnedError(outcome.auth));
        return reject(request, socket, head, { reason: 'auth-failed', message: 'authentication failed' });
      } else {
        auth = outcome.auth;
      }
      // Another server's listener, after this one, upgraded it while authenticate ran. (A
      // failed authenticate is still reported as such, above, as its timeout is.)
      if (isUpgradedElsewhere(socket)) return leftElsewhere();
      if (isGone(socket)) {
        const message = isAnsweredElsewhere(socket)
          ? `${answeredElsewhere} during authentication`
          : 'client went away during authentication';
        // A reset destroys the socket at once, but its 'close' (which aborts the signal) comes
        // a turn later, once the handle closed: a verdict in between was returned with the
        // signal not aborted, so the app may have reserved something by its correlationId (a
        // per-address slot, docs/admission.md, "A second limit"). The refusal carries it, to release by.
        const correlationId = verdictCorrelationId(auth);
        return refuseGone(request, socket, head, { reason: 'socket-closed', message, correlationId });
      }
      if (auth === null || auth === undefined)
        return reject(request, socket, head, { reason: 'unauthenticated', message: 'unauthenticated' });
      if (auth instanceof Refusal) {
        const fields = checkedRefusalFields(auth);
        if (fields.problem !== undefined) {
          const cause = new TypeError(
            `authenticate's Refusal was changed after it was made: ${fields.problem}`,
          );
          report(new AppHookError('authenticate', cause));
          return reject(request, socket, head, { reason: 'auth-failed', message: 'authentication failed' });
        }
        const { status, message, retryAfterMs, userId, userIdProblem: badUserId } = fields;
        if (badUserId !== undefined) {
          // Whom the app refused is for logs only: a bad one is left out, the refusal sent.
          const cause = new TypeError(
            `authenticate's Refusal has a userId that is not a user id (${badUserId}): it was left out of the rejected event, and the refusal was sent with its status (docs/rules.md, User ids)`,
          );
          report(new AppHookError('authenticate', cause));
        }
        return reject(request, socket, head, { reason: 'refused', status, message, retryAfterMs, userId });
      }
      if (isUnhonouredRefusal(auth)) {
        // Not read as a result: "another copy's Refusal", 500 (docs/admission.md, Refusals the app chooses).
        report(new AppHookError('authenticate', authResultError(auth, undefined)));
        return reject(request, socket, head, { reason: 'auth-failed', message: 'authentication failed' });
      }
      const userId = typeof auth === 'object' ? auth.userId : auth;
      const { correlationId, problem: badCorrelation } = correlationIdOf(
        typeof auth === 'object' ? auth.correlationId : undefined,
      );
      if (badCorrelation !== undefined) report(new AppHookError('authenticate', badCorrelation));
      // A user id that is not a string (`{ id }`, a number from a database) is the app's
      // slip, never the client's: 500 auth-failed, which clients back off from and retry
      // once the app is fixed. A 400 (close 4400) would suspend the package's client for
      // good. A string that breaks the rules may come from the request: 400 invalid-user-id.
      if (typeof userId !== 'string') {
        report(new AppHookError('authenticate', authResultError(auth, userId)));
        return reject(request, socket, head, {
          reason: 'auth-failed',
          message: 'authentication failed',
          correlationId,
        });
      }
      const problem = userIdProblem(userId);
      if (problem !== undefined) {
        return reject(request, socket, head, { reason: 'invalid-user-id', message: problem, correlationId });
      }
      // A key the result may not have (`expiresAtMs`: a session that would never end), a
      // session's end that cannot be read, or a limit of the user's own (plan tiers) that
      // cannot be used, admits nothing: the app's mistake, reported. A session's end that
      // has passed admits nothing either: the client's token is stale.
      const { expiresAt, problem: badExpiry } = expiresAtOf(
        typeof auth === 'object' ? auth.expiresAt : undefined,
      );
      const ownLimit = typeof auth === 'object' ? auth.maxConnectionsPerUser : undefined;
      const ownAtLimit = typeof auth === 'object' ? auth.atLimit : undefined;
      const badResult =
        (typeof auth === 'object' ? unknownAuthKeysProblem(auth) : undefined) ??
        badExpiry ??
        userLimitProblem(ownLimit) ??
        atLimitProblem(ownAtLimit, cluster !== undefined, hasVerifyClient(wss));
      if (badResult !== undefined) {
        report(new AppHookError('authenticate', badResult));
        const refusal = {
          reason: 'auth-failed',
          message: 'authentication failed',
          userId,
          correlationId,
        } as const;
        return reject(request, socket, head, refusal);
      }
      // The option's 'replace-oldest' (authenticate's own is checked above) with a verifyClient
      // that createSupervisor() did not see (set on the server since): refused before anything
      // is replaced, as one it saw would have been; reported once.
      if (ownAtLimit === undefined && resolved.atLimit === 'replace-oldest' && hasVerifyClient(wss)) {
        if (!verifyClientReported) {
          verifyClientReported = true;
          report(new InvalidOptionError('atLimit', VERIFY_CLIENT_EXPECTED, resolved.atLimit));
        }
        return reject(request, socket, head, {
          reason: 'internal-error',
          message: 'internal error',
          userId,
          correlationId,
        });
      }
      if (expiresAt !== undefined && expiresAt <= Date.now()) {
        const inSeconds = expiresAtInSeconds(expiresAt);
        if (inSeconds !== undefined) report(new AppHookError('authenticate', inSeconds));
        const refusal = {
          reason: 'unauthenticated',
          message: 'session expired',
          userId,
          correlationId,
        } as const;
        return reject(request, socket, head, refusal);
      }
      if (isShuttingDown()) {
        const message = 'server is shutting down';
        return reject(request, socket, head, { reason: 'shutting-down', message, userId, correlationId });
      }
      const data = typeof auth === 'object' ? auth.data : undefined;
      const limit = userLimits.of(ownLimit);
      const instance = 'instance' in instanceParam ? instanceParam.instance : undefined;
      const atLimit = ownAtLimit ?? resolved.atLimit;
      await admit({
        request,
        socket,
        head,
        userId,
        correlationId,
        data,
        expiresAt,
        limit,
        instance,
        atLimit,
      });
    } finally {
      socket.off('error', ignore);
    }
  }

  /** Upgrade requests whose `authenticate` has not settled, in arrival order. */
  const authenticating = new Set<Authenticating>();

  /**
   * Waits for an asynchronous `authenticate`, bounded by authenticateTimeoutMs
   * on the supervisor's clock (counted in pendingTimers, cleared at the
   * verdict). Resolves with the verdict, or with undefined when the request
   * was answered meanwhile (timedOut, refuseAuthenticating): whoever takes it
   * out of `authenticating` answers it, once.
   */
  async function authenticated(
    verdict: PromiseLike<AuthResult>,
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    context: AuthenticateCall,
  ): Promise<AuthOutcome | undefined> {
    const { outcome, stop, peek } = stoppable(verdict, context);
    const waiting: Authenticating = { request, socket, head, timer: undefined, stop, context, peek };
    authenticating.add(waiting);
    if (authenticating.size === 1) holdChanged();
    waiting.timer = clock.setTimeout(() => timedOut(waiting), resolved.authenticateTimeoutMs);
    // A socket that closes meanwhile (a reset) ends the wait at once. Node no longer counts it
    // against server.maxConnections, the bound on these waits (docs/admission.md, Admission rate limit):
    // held until the verdict, resets could pile up waits, with their requests and heads, past it.
    // So does a FIN ('end': Node's HTTP server leaves the socket half-open, and isGone() would
    // refuse it at the verdict anyway): the app's signal aborts then, not at the verdict.
    const closed = () => wentAway(waiting);
    socket.once('close', closed).once('end', closed);
    const settled = await outcome;
    socket.off('close', closed).off('end', closed);
    clock.clearTimeout(waiting.timer);
    // The timer may have fired after the verdict, before this continuation: it answered.
    return leave(waiting) ? settled : undefined;
  }

  /** Takes `waiting` out of `authenticating`; false when it was out already (answered). */
  function leave(waiting: Authenticating): boolean {
    if (!authenticating.delete(waiting)) return false;
    if (authenticating.size === 0) holdChanged();
    return true;
  }

  /** The client's socket closed while authenticate ran: refused as socket-closed, its verdict ignored. */
  function wentAway(waiting: Authenticating): void {
    if (!leave(waiting)) return;
    clock.clearTimeout(waiting.timer);
    waiting.stop();
    const { request, socket, head } = waiting;
    refuseGone(request, socket, head, {
      reason: 'socket-closed',
      message: 'client went away during authentication',
    });
    abandon(waiting.context, 'client-gone');
  }

  /** authenticate did not settle in time: refused as a failed authenticate, its verdict ignored. */
  function timedOut(waiting: Authenticating): void {
    // It did settle in time, and its verdict waits for the continuation in authenticated(),
    // which the timer beat: that verdict is used (an admission, if it admits), not refused.
    if (isSettled(waiting.context)) return;
    if (!leave(waiting)) return;
    waiting.stop();
    const ms = resolved.authenticateTimeoutMs;
    const cause = new Error(`timed out after ${ms} ms (authenticateTimeoutMs)`);
    cause.name = 'TimeoutError';
    report(new AppHookError('authenticate', cause));
    const { request, socket, head } = waiting;
    reject(request, socket, head, { reason: 'auth-failed', message: 'authentication failed' });
    abandon(waiting.context, 'timeout');
  }

  function refuseAuthenticating(): void {
    const message = refusalMessage['shutting-down'];
    for (const waiting of authenticating) {
      clock.clearTimeout(waiting.timer);
      waiting.stop();
      const { request, socket, head } = waiting;
      // A verdict that came already (its continuation not yet run) was returned with the signal
      // not aborted: the app may have reserved something by its correlationId, to release by it.
      const came = waiting.peek();
      const correlationId =
        came !== undefined && 'auth' in came ? verdictCorrelationId(came.auth) : undefined;
      reject(request, socket, head, { reason: 'shutting-down', message, correlationId });
    }
    // Taken out before any abort listener of the app runs (it may start another shutdown step).
    const abandoned = [...authenticating];
    authenticating.clear();
    if (abandoned.length > 0) holdChanged();
    // After every answer: the app's listeners run synchronously inside abort(). One whose
    // verdict came already (its continuation not yet run) is refused all the same, 503 as
    // documented, but not aborted: its authenticate has settled.
    for (const waiting of abandoned) abandon(waiting.context, 'shutdown');
  }

  /**
   * Refuses an attempt, naming its user. The rejection is one literal of one
   * shape: a spread of differently shaped ones made every refusal about three
   * times dearer (measured: 10 → 30 µs of CPU per refusal in process).
   */
  function refuse(
    attempt: Attempt,
    reason: Rejection['reason'],
    message: string,
    retryAfterMs?: number,
    live?: number,
  ): void {
    const { request, socket, head, userId, correlationId } = attempt;
    // The per-user limit's refusal says at what count (the event's `live` and `limit`): this admission's limit.
    const limit = reason === 'user-limit' ? attempt.limit.limit : undefined;
    reject(request, socket, head, { reason, message, userId, correlationId, retryAfterMs, live, limit });
  }

  function admit(attempt: Attempt): void | Promise<void> {
    // Draining connections still hold a socket, so they count here (not toward the user's limit).
    if (resolved.maxConnections !== undefined && books.connections >= resolved.maxConnections) {
      return refuse(attempt, 'process-limit', refusalMessage['process-limit']);
    }
    // Issue 11 (7): a user's token bucket is on its record; a user without one has a full bucket.
    const rate = resolved.admissionRate;
    const known = rate === undefined ? undefined : users.get(attempt.userId);
    if (rate !== undefined && known !== undefined) {
      const waitMs = takeAdmissionToken(known, rate, clock.now());
      if (waitMs > 0) {
        return refuse(attempt, 'rate-limited', rateLimitMessage, waitMs);
      }
    }
    // A new user's bucket is the record admitLocally creates: its token is taken there.
    const tokenTaken = known !== undefined;
    // Issue 12: in cluster mode the cluster-wide book reserves the slot first.
    if (cluster !== undefined) return admitInCluster(cluster, attempt, tokenTaken);
    admitLocally(attempt, nextConnectionId(), tokenTaken)?.completeHandshake();
  }

  /**
   * The machines decide; returns the admitted connection, whose handshake the
   * caller completes once its own books have it (that can dispose it at once),
   * or undefined when the attempt was refused.
   */
  function admitLocally(
    attempt: Attempt,
    connectionId: string,
    tokenTaken: boolean,
  ): WsConnection | undefined {
    const { request, socket, head, userId, correlationId, data, expiresAt, limit } = attempt;
    const rate = resolved.admissionRate;
    const known = users.get(userId);
    if (rate !== undefined && !tokenTaken && known !== undefined) {
      // A new user when admit() looked, known now: another of its first connections
      // created the record while this one waited for the cluster's book. Its bucket
      // counts this one too, or concurrent first connections would all skip it.
      const waitMs = takeAdmissionToken(known, rate, clock.now());
      if (waitMs > 0) {
        refuse(attempt, 'rate-limited', rateLimitMessage, waitMs);
        return undefined;
      }
    }
    const connection = new WsConnection(
      env,
      connectionId,
      userId,
      correlationId,
      clock.now(),
      { request, socket, head },
      data,
      expiresAt,
      attempt.instance?.id,
    );
    const record = supervisorOf(userId);
    // A record just created has a full bucket: this takes its first token.
    if (rate !== undefined && !tokenTaken && known === undefined)
      takeAdmissionToken(record, rate, clock.now());
    // This admission's limit becomes the user's (the ADMIT below makes it the supervisor's):
    // the band is read again against it, and announced after the step.
    if (record.limit !== limit) books.limitChanged(record, limit);
    // Everything below runs synchronously: when send() returns, the machines have decided.
    // From here the socket may be a connection actor's: a failure must not answer it.
    letGo.add(socket);
    // The eviction at T below reads the user's idleness: a connection just sent to is active.
    env.sendEdges.takeUser(userId);
    // The step's `capacity` events (a plan limit this upgrade carries moves the band too)
    // wait for its answer: `admitted` is emitted inside the step, `rejected` only below.
    // Only that step's: the hold ends with it, and a step a `rejected` listener takes
    // (disconnectUser) announces them first, then its own.
    record.capacityHeld = true;
    try {
      record.actor.send({
        type: 'ADMIT',
        connectionId: connection.id,
        userId,
        transport: connection,
        limit: limit.limit,
        evictAt: limit.evictAt,
        instance: resolved.supersede ? attempt.instance : undefined,
        // Every other check (authenticate, the admission rate, the process limit) has passed:
        // a replacement decided in this step is never for a newcomer refused after it.
        atLimit: attempt.atLimit,
      });
      record.capacityHeld = false;
      const admitted = decided(attempt, connection, record);
      if (admitted !== undefined) socketAdmissions.admitted(socket, connectionId, userId);
      return admitted;
    } finally {
      capacityReleased(record);
    }
  }

  /** The answer to an ADMIT: the connection admitted, or the refusal sent (undefined). */
  function decided(attempt: Attempt, connection: WsConnection, record: UserRecord): WsConnection | undefined {
    const decision = connection.decision;
    if (decision?.admitted === true) return connection;
    if (decision === undefined) {
      // A bug: the user's supervisor failed inside the ADMIT step (reported as it
      // failed), or ignored it. Answered as any internal failure at admission is
      // (500, no retry hint), not as a shutdown that asks the client to come back.
      // No app hook leads here: the app's `inspect`, which did, is isolated (inspect.ts).
      report(new SupervisorError('WSSUP_INTERNAL', `no admission decision for connection ${connection.id}`));
      refuse(attempt, 'internal-error', 'internal error');
    } else {
      const live = decision.reason === 'user-limit' ? record.book.live : undefined;
      const message =
        decision.reason === 'user-limit' ? attempt.limit.refusal : refusalMessage[decision.reason];
      refuse(attempt, decision.reason, message, undefined, live);
    }
    return undefined;
  }

  /**
   * Issue 12: reserve the slot in the cluster-wide book, then let the local
   * machines decide as always (local ≤ global, so they never refuse what the
   * book admitted, short of the process limit or shutdown meanwhile). A slot
   * reserved for a connection the machines did not take is given back.
   * The reserve() wait is not counted in the clock's hold (supervisor.ts, holdChanged).
   */
  async function admitInCluster(book: ClusterBook, attempt: Attempt, tokenTaken: boolean): Promise<void> {
    const { userId } = attempt;
    const connectionId = nextConnectionId();
    // The book judges the user's idle entries: a connection just sent to goes to it live first.
    env.sendEdges.takeUser(userId);
    const reservation: Reservation = await book.reserve(
      userId,
      connectionId,
      attempt.limit,
      resolved.supersede ? attempt.instance : undefined,
    );
    if (reservation.outcome === 'refused') {
      return refuse(attempt, 'user-limit', attempt.limit.refusal, undefined, reservation.live);
    }
    // Not the user's limit: the book holds this id for another owner, a bug (reported).
    if (reservation.outcome === 'failed') return refuse(attempt, 'internal-error', 'internal error');
    if (reservation.outcome === 'unavailable') {
      const message = 'connection limits are unavailable, try again later';
      const retryAfterMs = reservation.retryAfterSeconds * 1_000;
      return refuse(attempt, 'store-unavailable', message, retryAfterMs);
    }
    let refusal: RefusalReason | 'socket-closed' | 'upgraded-elsewhere' | undefined;
    // Upgraded by another server while the book answered: the slot is given back, below.
    if (isUpgradedElsewhere(attempt.socket)) refusal = 'upgraded-elsewhere';
    else if (isGone(attempt.socket)) refusal = 'socket-closed';
    else if (isShuttingDown()) refusal = 'shutting-down';
    else if (resolved.maxConnections !== undefined && books.connections >= resolved.maxConnections) {
      refusal = 'process-limit';
    }
    const connection = refusal === undefined ? admitLocally(attempt, connectionId, tokenTaken) : undefined;
    if (connection !== undefined) {
      // Booked before the handshake: a handshake that fails at once disposes the
      // connection, whose release must find it held (else its slot is booked forever).
      // One an `admitted` listener closed is disposed, and released, already.
      if (books.handles.has(connectionId)) book.admitted(userId, connectionId, reservation);
      connection.completeHandshake();
      return;
    }
    book.released(userId, connectionId);
    if (refusal === 'upgraded-elsewhere') {
      leftElsewhere();
    } else if (refusal === 'socket-closed') {
      const message = isAnsweredElsewhere(attempt.socket)
        ? `${answeredElsewhere} during admission`
        : 'client went away during admission';
      refuse(attempt, refusal, message);
      // Half-closed (FIN): nothing left to answer. Ended by another listener: its answer is on its way.
      if (!attempt.socket.destroyed && !attempt.socket.writableEnded) attempt.socket.destroy();
    } else if (refusal !== undefined) {
      refuse(attempt, refusal, refusalMessage[refusal]);
    }
  }

  return { handleUpgrade, refuseAuthenticating, authenticating: () => authenticating.size };
}
