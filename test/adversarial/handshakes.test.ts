/**
 * Malformed opening handshakes, one of each kind, sent byte for byte by a raw
 * TCP client. Every one must be refused before admission (issue 13): an HTTP
 * error, `admitted` unchanged, and no idle connection of that user evicted to
 * make room for a connection that was never going to exist. The user holds
 * T - 1 idle connections, so a malformed request counted at admission would
 * reach T and evict one of them.
 */
import { describe, expect, it } from 'vitest';
import { expectLeakFree, startTarget, type Target } from '../helpers/adversary.js';
import { rawConnect, readResponseHead, validKey } from '../helpers/cleanup.js';
import { evictAt, idleTimeoutMs } from '../helpers/rules.js';
import { connect } from '../helpers/server.js';

const path = '/ws';

interface Shape {
  method?: string;
  target?: string;
  version?: string;
  /** Replaces (or, with undefined, removes) the default headers. */
  headers?: Record<string, string | undefined>;
  /** Headers added after the defaults, duplicates allowed. */
  extra?: [string, string][];
}

/** An upgrade request for `mal` on the supervisor's path, changed as `shape` says. */
function request(shape: Shape = {}): string {
  const { method = 'GET', target = `${path}?user=mal`, version = 'HTTP/1.1', extra = [] } = shape;
  const headers: Record<string, string | undefined> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': validKey,
    'Sec-WebSocket-Version': '13',
    ...shape.headers,
  };
  const lines = [
    ...Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined),
    ...extra,
  ].map(([name, value]) => `${name}: ${value}\r\n`);
  return `${method} ${target} ${version}\r\n${lines.join('')}\r\n`;
}

/** `mal` holds evictAt - 1 idle connections; returns them. */
async function idleBystanders(t: Target) {
  const bystanders = await Promise.all(
    Array.from({ length: evictAt - 1 }, () => connect(t.url('mal', path))),
  );
  t.clock.increment(idleTimeoutMs);
  expect(t.supervisor.userStats('mal')).toMatchObject({ live: evictAt - 1, idle: evictAt - 1 });
  return bystanders;
}

function slots(t: Target, user: string) {
  const book = t.supervisor.userStats(user);
  return book && { live: book.live, idle: book.idle, draining: book.draining };
}

async function refusedBeforeAdmission(statuses: readonly number[], bytes: string | Buffer) {
  const t = await startTarget({ attach: { path } });
  const bystanders = await idleBystanders(t);
  const before = t.supervisor.stats().counters;

  const socket = await rawConnect(t.port);
  socket.write(bytes);
  const status = Number((await readResponseHead(socket)).split(' ')[1]);

  // One comparison, so that a failure shows every part of the outcome at once.
  const after = t.supervisor.stats().counters;
  expect({
    status,
    admitted: after.admitted - before.admitted,
    evicted: t.events.evicted.length,
    bystanders: slots(t, 'mal'),
    errors: t.errors,
  }).toEqual({
    status: expect.toSatisfy(
      (received: number) => statuses.includes(received),
      `one of ${statuses.join(', ')}`,
    ),
    admitted: 0,
    evicted: 0,
    bystanders: { live: evictAt - 1, idle: evictAt - 1, draining: 0 },
    errors: [],
  });
  expect(bystanders.every((ws) => ws.readyState === ws.OPEN)).toBe(true);

  socket.destroy();
  for (const ws of bystanders) ws.close();
  await expectLeakFree(t.supervisor);
}

describe('a malformed upgrade request is refused before admission', () => {
  it.each([
    ['no Sec-WebSocket-Key', [400], request({ headers: { 'Sec-WebSocket-Key': undefined } })],
    ['a Sec-WebSocket-Key of 5 bytes', [400], request({ headers: { 'Sec-WebSocket-Key': 'c2hvcnQ=' } })],
    [
      'a Sec-WebSocket-Key of 17 bytes',
      [400],
      request({ headers: { 'Sec-WebSocket-Key': Buffer.alloc(17, 1).toString('base64') } }),
    ],
    [
      'a Sec-WebSocket-Key that is not base64',
      [400],
      request({ headers: { 'Sec-WebSocket-Key': '!!!!!!!!!!!!!!!!!!!!!!==' } }),
    ],
    ['two Sec-WebSocket-Key headers', [400], request({ extra: [['Sec-WebSocket-Key', validKey]] })],
    // RFC 6455 §4.4 suggests 426 with the supported versions; ws answers 400 with them.
    ['no Sec-WebSocket-Version', [400, 426], request({ headers: { 'Sec-WebSocket-Version': undefined } })],
    ['Sec-WebSocket-Version 12', [400, 426], request({ headers: { 'Sec-WebSocket-Version': '12' } })],
    ['Sec-WebSocket-Version abc', [400, 426], request({ headers: { 'Sec-WebSocket-Version': 'abc' } })],
    [
      'a malformed Sec-WebSocket-Protocol',
      [400],
      request({ headers: { 'Sec-WebSocket-Protocol': 'chat,,superchat' } }),
    ],
    ['POST instead of GET', [400, 405], request({ method: 'POST' })],
    ['Upgrade: h2c instead of websocket', [400, 426], request({ headers: { Upgrade: 'h2c' } })],
  ] as const)('%s: HTTP %j', async (_name, statuses, bytes) => {
    await refusedBeforeAdmission(statuses, bytes);
  });
});

describe('a request that never becomes an upgrade never reaches the supervisor', () => {
  it.each([
    // Without Upgrade and Connection: Upgrade node:http sees a plain request, for the app's handler.
    ['no Upgrade header', [404], request({ headers: { Upgrade: undefined } })],
    ['no Connection: Upgrade', [404], request({ headers: { Connection: 'keep-alive' } })],
    // node:http's parser refuses these itself (clientError).
    ['a garbage request line', [400], 'HELLO THERE\r\n\r\n'],
    ['a TLS ClientHello on the plain port', [400], Buffer.from('160301020001000001fc0303', 'hex')],
    ['bare LF line endings', [400], request().replaceAll('\r\n', '\n')],
    ['headers over 16 KiB', [431], request({ extra: [['X-Pad', 'a'.repeat(20 * 1024)]] })],
    // attach(server, { path }) with nobody else listening answers 404.
    ['a request for another path', [404], request({ target: '/elsewhere?user=mal' })],
  ] as const)('%s: HTTP %j', async (_name, statuses, bytes) => {
    await refusedBeforeAdmission(statuses, bytes);
  });
});

// RFC 6455 §4.2.1: the handshake is an HTTP/1.1 (or higher) GET with a Host
// header; a server that finds otherwise "MUST stop processing the client's
// handshake and return an HTTP response with an appropriate error code (such
// as 400 Bad Request)". ws checks neither.
describe('RFC 6455 §4.2.1 requirements that ws itself does not check', () => {
  it.each([
    ['no Host header', [400], request({ headers: { Host: undefined } })],
    ['HTTP/1.0', [400, 505], request({ version: 'HTTP/1.0' })],
  ] as const)('%s: HTTP %j', async (_name, statuses, bytes) => {
    await refusedBeforeAdmission(statuses, bytes);
  });
});
