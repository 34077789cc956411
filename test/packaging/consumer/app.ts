// A strict TypeScript app using the public API as the README shows it. Must compile with no error,
// including the library's own .d.ts files (skipLibCheck: false).
import { createServer, type IncomingMessage } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import {
  type AdmittedEvent,
  AppHookError,
  type AuthenticateContext,
  type AuthResult,
  type ClusterUserBook,
  type ConnectionHandle,
  charts,
  createSupervisor,
  type DisposedEvent,
  type DisposeInfo,
  type ErrorCode,
  InvalidOptionError,
  MissingPeerError,
  Refusal,
  type RejectedEvent,
  renderChart,
  roomNameProblem,
  SlotStoreUnavailableError,
  type Supervisor,
  type SupervisorError,
  type SupervisorOptions,
  type SupervisorStats,
  type UserStats,
  userIdProblem,
} from 'ws-supervisor';
import {
  type ClientCloseCause,
  type ClientCloseEvent,
  type ClientState,
  type ClientUrlContext,
  createClient,
  type OnceOptions,
} from 'ws-supervisor/client';
import { createDashboard, type Dashboard, tokenAuthorizer } from 'ws-supervisor/dashboard';
import { clientMachine, connectionMachine } from 'ws-supervisor/machines';
import {
  type Inbox,
  type InboxClose,
  type InboxMessage,
  inbox,
  leaksOf,
  type ManualClock,
  type RefusalAnswer,
  refusal,
  ShutdownStuckError,
  SocketClosedError,
  serveForTest,
  type TestApp,
  type TestClient,
  TestLeakError,
} from 'ws-supervisor/testing';

const supervisor = createSupervisor({
  preset: 'production',
  authenticate: (request) => request.headers.authorization ?? null,
  onMessage: (connection, data, isBinary) => {
    const sent: boolean = connection.send(data, { binary: isBinary });
    return sent;
  },
  onClose: (connection, { reason, closeCode }) => console.log(connection.id, reason, closeCode),
  webSocketServer: new WebSocketServer({ noServer: true, maxPayload: 1_048_576, perMessageDeflate: false }),
});

// The README's Registry: a hook that calls its own supervisor, with a block body (an
// expression body is TS7022: wrong.ts).
export const chat = createSupervisor({
  authenticate: () => 'user',
  onMessage: (_connection, data) => {
    chat.broadcast(data);
  },
});

// authenticate's second argument: a signal to pass to fetch(), aborted when the attempt is abandoned.
// Read where it is used (destructuring it would make its AbortController on every call).
export const cancellable = createSupervisor({
  authenticate: async (request, context: AuthenticateContext) => {
    if (request.url === undefined) return null;
    const response = await fetch(`https://idp.example/session?${request.url}`, { signal: context.signal });
    return response.ok ? ((await response.json()) as { userId: string }).userId : null;
  },
});

// The client instance id a connection's client sent, if any.
export const instanceOf = (connection: ConnectionHandle): string | undefined => connection.instance;

export function socketOf(connection: ConnectionHandle): WebSocket | undefined {
  const socket = connection.socket;
  if (socket !== undefined && socket.readyState === WebSocket.OPEN) socket.ping();
  return socket;
}

// The runbook's step 2: when each connection was admitted and how long it has been idle.
export function heldBy(userId: string): Array<{ id: string; admittedAt: number; idleForMs: number }> {
  return supervisor
    .connectionsOf(userId)
    .map(({ id, admittedAt, idleForMs }) => ({ id, admittedAt, idleForMs }));
}

// The library's own checks of a user id and a room name, for an app that vets them first.
const idProblem: string | undefined = userIdProblem('alice\u200d');
const roomProblem: string | undefined = roomNameProblem('lobby');
console.log(idProblem, roomProblem);

// Issue 11: app data typed through the generic, and a refusal the app chooses.
const withData = createSupervisor<{ plan: 'free' | 'pro' }>({
  refuse: 'close',
  admissionRate: { perSecond: 1, burst: 5 },
  authenticate: (request) =>
    request.headers.authorization === undefined
      ? new Refusal(403, 'no token', { retryAfterMs: 1_000, userId: 'acme:anonymous' })
      : // Plan tiers: the user's own limit, instead of maxConnectionsPerUser.
        { userId: request.headers.authorization, data: { plan: 'pro' }, maxConnectionsPerUser: 20 },
  onOpen: (connection) => {
    const plan: 'free' | 'pro' | undefined = connection.data?.plan;
    console.log(plan);
  },
});
// The registry hands back the same typed data.
const plans: ('free' | 'pro' | undefined)[] = withData
  .connectionsOf('ann')
  .map((connection) => connection.data?.plan);
console.log(plans, withData.connection('id')?.data?.plan, withData.sendToUser('ann', 'hi'));
withData.on('rejected', ({ via, remoteAddress, userAgent, retryAfterMs }) =>
  console.log(via, remoteAddress, userAgent, retryAfterMs),
);
// A Refusal that names whom it refused (a tenant suspended): the event's userId on 'refused'.
withData.on('rejected', (event) => {
  const refusedUser: string | undefined = event.reason === 'refused' ? event.userId : undefined;
  const given: string | undefined = new Refusal(403, 'tenant suspended', { userId: 'acme:ann' }).userId;
  console.log(refusedUser, given);
});
await withData.shutdown({ deadlineMs: 0 });

// Hooks and listeners written as functions of their own, typed from the public entry point alone.
interface Session {
  plan: 'free' | 'pro';
}
async function authenticate(request: IncomingMessage): Promise<AuthResult<Session>> {
  const token = request.headers.authorization;
  return token === undefined
    ? null
    : { userId: token, data: { plan: 'pro' }, maxConnectionsPerUser: undefined };
}
function onMessage(connection: ConnectionHandle<Session>, data: Buffer, isBinary: boolean): void {
  if (connection.data?.plan === 'pro') connection.send(data, { binary: isBinary });
}
function onClose(connection: ConnectionHandle<Session>, info: DisposeInfo): void {
  console.log(connection.userId, info.reason, info.closeCode, info.lifetimeMs, info.opened satisfies boolean);
}
function onError(error: SupervisorError): void {
  if (error instanceof AppHookError) console.error(error.hook, error.connectionId, error.cause);
  else console.error(error.code satisfies ErrorCode, error.message);
}
// README, "App data on each connection": a return type of AuthResult (annotated, or `satisfies`)
// makes a misspelt key a compile error, which an unannotated authenticate is not.
export async function misspeltAnnotated(): Promise<AuthResult<Session>> {
  // @ts-expect-error TS2353: expiresAtMs is no key of AuthResult (expiresAt is)
  return { userId: 'user', expiresAtMs: 0 };
}
export const misspeltSatisfies = async () =>
  // @ts-expect-error TS2353: as above, for an inline authenticate
  ({ userId: 'user', expiresAtMs: 0 }) satisfies AuthResult<Session>;
const hooks: SupervisorOptions<Session> = { authenticate, onMessage, onClose, onError };
const typed = createSupervisor(hooks);
typed.on('admitted', (event: AdmittedEvent) => console.log(event.userId, event.connectionId));
typed.on('rejected', (event: RejectedEvent) => console.log(event.reason, event.status));
await typed.shutdown();

const server = createServer().listen(0);
const detach: () => void = supervisor.attach(server, { path: '/ws' });
supervisor.on('disposed', (event: DisposedEvent) =>
  console.log(event.connectionId, event.lifetimeMs, event.cleanupMs),
);
// The dashboard is a Node request handler: it mounts as one.
const dashboard: Dashboard = createDashboard(supervisor, {
  basePath: '/ops',
  authorize: tokenAuthorizer('a-long-random-token-0123456789'),
});
server.on('request', dashboard);
const stats: SupervisorStats = supervisor.stats();
// `{ cluster: false }` is this process's book, as stats({ cluster: false }) is its stats.
export function localBooks(): [SupervisorStats, UserStats | undefined, Promise<ClusterUserBook | undefined>] {
  return [
    supervisor.stats({ cluster: false }),
    supervisor.userStats('ann', { cluster: false }),
    supervisor.userStats('ann', { cluster: true }),
  ];
}
// A `cluster` flag known only at run time: the local answer or the cluster-wide Promise.
export async function booksOf(cluster: boolean): Promise<number> {
  const counted = await supervisor.stats({ cluster });
  const book = await supervisor.userStats('ann', { cluster });
  return counted.connections + (book === undefined ? 0 : book.live);
}
// The cluster option names exactly one of redis and store.
export const onRedis: SupervisorOptions['cluster'] = { redis: 'redis://127.0.0.1:6380', nodeId: 'a' };
const code: ErrorCode = 'WSSUP_MISSING_PEER';
console.log(stats.connections, code, connectionMachine.id);

renderChart(charts.connection, { format: 'svg' }).catch((error: unknown) => {
  if (error instanceof MissingPeerError) console.log(error.peer, error.code);
});

// Each error class narrows `code` to its own, and `code` is a union a switch covers exhaustively.
function codeOf(error: SupervisorError): string {
  if (error instanceof InvalidOptionError) return error.code satisfies 'WSSUP_INVALID_OPTION';
  if (error instanceof AppHookError) return error.code satisfies 'WSSUP_APP_HOOK_FAILED';
  if (error instanceof MissingPeerError) return error.code satisfies 'WSSUP_MISSING_PEER';
  if (error instanceof SlotStoreUnavailableError) return error.code satisfies 'WSSUP_STORE_UNAVAILABLE';
  switch (error.code) {
    case 'WSSUP_INVALID_OPTION':
    case 'WSSUP_INVALID_ARGUMENT':
    case 'WSSUP_SHUTTING_DOWN':
    case 'WSSUP_AUTHENTICATE_ABORTED':
    case 'WSSUP_CLIENT_CLOSED':
    case 'WSSUP_SOCKET_CLOSED':
    case 'WSSUP_NOT_REFUSED':
    case 'WSSUP_TEST_LEAKED':
    case 'WSSUP_TEST_SHUTDOWN_STUCK':
    case 'WSSUP_APP_HOOK_FAILED':
    case 'WSSUP_MISSING_PEER':
    case 'WSSUP_UNSUPPORTED_PEER':
    case 'WSSUP_STORE_UNAVAILABLE':
    case 'WSSUP_DUPLICATE_NODE_ID':
    case 'WSSUP_STORE_EVICTION_POLICY':
    case 'WSSUP_STORE_FORMAT':
    case 'WSSUP_STORE_CLIENT_CLOSED':
    case 'WSSUP_INTERNAL':
      return error.code;
    default:
      return error.code satisfies never;
  }
}
console.log(codeOf);

// ws's WebSocket is a constructor the client takes as it is (Node 20 has no global one).
const client = createClient({ url: 'ws://127.0.0.1:1/ws', WebSocket, backoff: { capMs: 60_000 } });
client.on('close', (event: ClientCloseEvent) => console.log(event.kind, event.next, event.retryAfterMs));
// A close the client decided says why as a word (absent for the server's or the transport's).
const causeText: Record<ClientCloseCause, string> = {
  offline: 'no network',
  silence: 'the server went quiet',
  'connect-timeout': 'the server is slow to answer',
};
client.on('close', ({ cause }) => console.log(cause === undefined ? 'closed' : causeText[cause]));
// A url function is given its attempt (its first call comes inside createClient(): not `client`).
export const urlFor = ({ attempt, lastClose }: ClientUrlContext): string =>
  `ws://127.0.0.1:1/ws?attempt=${attempt}&after=${lastClose?.kind ?? 'none'}`;
// ...and is the `url` option as it stands: a context type that no longer fit would fail here.
export const byAttempt = createClient({ url: urlFor, WebSocket });
byAttempt.close();
// once(): the next event as a promise, typed by its name; a type guard narrows it.
export async function waits(): Promise<number | undefined> {
  const opened: { url: string } = await client.once('open', { signal: AbortSignal.timeout(5_000) });
  const refused = await supervisor.once('rejected', { matches: (event) => event.reason === 'user-limit' });
  const atLimit = await supervisor.once('rejected', {
    matches: (event): event is RejectedEvent & { reason: 'user-limit' } => event.reason === 'user-limit',
  });
  const limit: number = atLimit.limit;
  const options: OnceOptions<ClientCloseEvent> = { matches: (event) => event.opened };
  const { code } = await client.once('close', options);
  console.log(opened.url, refused.reason, limit, code);
  return atLimit.live;
}
// The client's `error` is one of two classes, told apart by `code` without a cast.
client.on('error', ({ error }) => {
  if (error.code === 'WSSUP_APP_HOOK_FAILED') console.log(error.hook, error.cause);
  else console.log(error.option satisfies string, error.received);
});
// onError's error is told apart by `code` without a cast, as the client's is (a handler typed
// with SupervisorError, above, still fits).
export const byCode = createSupervisor({
  authenticate: () => 'user',
  onError: (error) => {
    if (error.code === 'WSSUP_APP_HOOK_FAILED') console.log(error.hook, error.connectionId);
    else if (error.code === 'WSSUP_INVALID_OPTION') console.log(error.option, error.allowed);
    else if (error.code === 'WSSUP_MISSING_PEER') console.log(error.peer satisfies string);
    else console.log(error.code satisfies Exclude<ErrorCode, 'WSSUP_APP_HOOK_FAILED'>);
  },
});
// A request id read with URLSearchParams.get (null when absent), an async onError and async listeners.
export function withRequestIds(): Supervisor {
  const traced = createSupervisor({
    authenticate: (request: IncomingMessage) => ({
      userId: 'user',
      correlationId: new URL(request.url ?? '/', 'http://localhost').searchParams.get('rid'),
    }),
    onError: async (error) => console.error(await Promise.resolve(error.code)),
  });
  traced.on('disposed', async ({ socketError, opened }) =>
    console.log(await Promise.resolve(socketError?.code), opened satisfies boolean),
  );
  return traced;
}

// serveForTest(): a typed app on a server for one test; close()'s errors narrow by class.
export async function servedForTest(clock: ManualClock): Promise<string | undefined> {
  const app: TestApp<typeof withData> = await serveForTest(withData, {
    clock,
    advanceTimers: (ms: number) => ms,
    // The app's routes (an Express app fits): node's RequestListener, the request typed.
    handler: (request, response) => response.end((request satisfies IncomingMessage).url),
  });
  const client: TestClient = await app.open(app.url('/?token=x'), { autoPong: false });
  const lines: readonly string[] = app.history;
  console.log(client.name, client.messages.unread, lines, app.port, app.httpUrl('/health') satisfies string);
  // The client's own connection, as the supervisor admitted it: the handle typed by the app's Data.
  console.log(client.userId satisfies string);
  // Subprotocols, as ws's constructor takes them, before its options.
  const tabs: TestClient[] = [
    await app.open('/', ['chat.v2', 'chat.v1'], { autoPong: false }),
    await app.open('/', 'chat.v1'),
  ];
  console.log(tabs.map(({ ws }) => ws.protocol));
  return app.close().then(
    () => app.supervisor.connection(client.connectionId satisfies string)?.data?.plan,
    (error: unknown) => {
      if (error instanceof TestLeakError) console.log(error.code satisfies 'WSSUP_TEST_LEAKED', error.leaks);
      if (error instanceof ShutdownStuckError)
        console.log(
          error.code satisfies 'WSSUP_TEST_SHUTDOWN_STUCK',
          error.stillConnected,
          error.simulatedMs,
        );
      throw error;
    },
  );
}

// ws-supervisor/testing, as "Testing your app" uses it: an inbox, a refusal, the leak check.
export async function testingHelpers(url: string): Promise<string[]> {
  const ws = new WebSocket(url);
  const messages: Inbox = inbox(ws);
  const [first]: InboxMessage[] = await messages.take(1);
  const next: InboxMessage = await messages.next().catch((error: unknown) => {
    if (error instanceof SocketClosedError)
      console.log(
        error.code satisfies 'WSSUP_SOCKET_CLOSED',
        error.closeCode,
        error.waitedFor,
        error.received.length,
      );
    throw error;
  });
  const { code, reason, error }: InboxClose = await messages.closed;
  const unreported: readonly Error[] = messages.errors;
  const answer: RefusalAnswer = await refusal(url, {
    headers: { origin: 'https://app.example' },
    handshakeTimeout: 1000,
  });
  const retryAfter: string | string[] | undefined = answer.headers['retry-after'];
  console.log(
    first?.text,
    next.isBinary,
    code,
    reason,
    error?.message,
    unreported,
    answer.statusCode,
    retryAfter,
  );
  return leaksOf(withData);
}

const state: ClientState = client.state;
console.log(state, client.send(new Uint8Array(1)), clientMachine.id);
// close() returns void, so a cleanup typed as React's Destructor (which refuses a Promise) takes
// `() => client.close()`; its end is `closed`, a Promise<void>.
declare const voidOnly: unique symbol;
// biome-ignore lint/suspicious/noConfusingVoidType: @types/react's Destructor, as it is declared
const cleanup: () => void | { [voidOnly]: never } = () => client.close();
cleanup();
const ended: Promise<void> = client.closed;
await ended;
dashboard.close();

await supervisor.shutdown({ deadlineMs: 100 });
detach();
server.close();

// Explicit resource management (TypeScript 5.2+): `await using` ends each at the end of its scope.
// This app's lib is ES2023, without esnext.disposable: the symbols come from @types/node (which
// @types/ws brings), and the library's members are declared on them.
export async function scoped(url: string): Promise<void> {
  await using scopedSupervisor = createSupervisor({ authenticate: () => 'user' });
  await using scopedClient = createClient({ url, WebSocket });
  await using app = await serveForTest(createSupervisor({ authenticate: () => 'user' }));
  using scopedDashboard = createDashboard(scopedSupervisor, { authorize: () => true });
  const ended: Promise<void> = scopedSupervisor[Symbol.asyncDispose]();
  console.log(scopedClient.state, app.port, scopedDashboard.basePath, await ended);
}
