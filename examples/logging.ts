// Run: npm run example:logging -- --port 8080
// Every supervisor event becomes one JSON line on stdout (pino), and refusals
// reach browsers as close frames they can read (4401, 4403, 4429 retry-after=…).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { createSupervisor, Refusal, type SupervisorEventName } from 'ws-supervisor';
// Not the library: the examples' own --port, --help and listen error. Your app reads its own configuration.
import { exitIfCannotListen, readExampleFlags } from './reference-server/command-line.js';

const flags = readExampleFlags({
  script: 'example:logging',
  about: 'Every supervisor event as one JSON line (pino); connect with ws://127.0.0.1:<port>/?user=<id>.',
});

// #region logging
// JSON escapes C0 controls, not C1 ones (U+0080–U+009F: U+009B reads as ESC [ in some
// terminals), DEL, U+2028/2029 or bidi controls, and a User-Agent or an id read from the
// request may hold any of them: escape those too, as \uXXXX, so that the line still parses back.
const UNSAFE_IN_LOGS = /[\u007f-\u009f\u2028\u2029]|\p{Bidi_Control}/gu;
const escapeUnsafe = (line: string) =>
  line.replace(UNSAFE_IN_LOGS, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
const logger = pino({ base: { service: 'chat' }, hooks: { streamWrite: escapeUnsafe } });

interface Session {
  plan: 'free' | 'pro';
}

const supervisor = createSupervisor<Session>({
  preset: 'production',
  refuse: 'close', // a browser reads why: close 4000 + status, reason `… retry-after=<s>`
  admissionRate: { perSecond: 1, burst: 5 }, // reconnect storms: 429 with Retry-After
  authenticate: (request) => {
    // Demo only: trusts ?user=<id>. Verify a real token here.
    const query = new URLSearchParams(request.url?.split('?')[1]);
    const user = query.get('user');
    if (user === null) return null; // 4401
    if (user.startsWith('banned')) return new Refusal(403, 'account suspended'); // 4403
    return { userId: user, correlationId: query.get('rid') ?? undefined, data: { plan: 'free' } };
  },
  onOpen: (connection) => connection.send(`welcome, ${connection.userId} (${connection.data?.plan})`),
  onMessage: (connection, data, isBinary) => connection.send(data, { binary: isBinary }),
  onError: (error) => logger.error({ err: error, code: error.code }, error.message),
});

// One line per event; the event's fields are the log's fields. `rejected` has
// reason, status, message, via, retryAfterMs, userId, remoteAddress, userAgent and correlationId
// (and live and limit, the user's count and its limit, when the reason is 'user-limit').
const names: SupervisorEventName[] = ['admitted', 'rejected', 'evicted', 'disposed'];
for (const name of names) {
  supervisor.on(name, (event) => logger.info({ event: name, ...event }, name));
}
// Not `...event` here: pino writes its own `level` (30) first, and the capacity event's `level`
// (0.5, 0.8, 0.9) would follow as a second `level` key, the one JSON.parse keeps: pino-pretty
// would stop printing there (that line and every one after it), and a level filter would drop
// exactly these alerts. Keep pino's `level`
// and log the capacity level as `capacityLevel`; every other field keeps its name.
supervisor.on('capacity', ({ level, ...event }) =>
  logger.info({ event: 'capacity', ...event, capacityLevel: level }, 'capacity'),
);
// #endregion logging

const server = createServer((_request, response) => response.end('connect with ws://…/?user=<id>\n'));
supervisor.attach(server);
exitIfCannotListen(server);
server.listen(flags.port, '127.0.0.1', () => {
  console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

// `on`, not `once`: under npm, Ctrl-C reaches node twice, and shutdown() is idempotent.
const stop = () =>
  void supervisor
    .shutdown()
    .catch((error: unknown) => console.error('shutdown failed', error))
    .finally(() => {
      // After shutdown() only HTTP stragglers are left: cut them, or a request whose
      // headers never end holds close() forever (examples/embedding.ts says why).
      server.close();
      server.closeAllConnections();
    });
process.on('SIGINT', stop).on('SIGTERM', stop);
