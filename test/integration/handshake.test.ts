/**
 * A malformed upgrade request is refused before authenticate and admission,
 * with the answer ws itself gives (issue 13, item 2). Before, the request
 * was admitted first (a slot reserved, idle connections of the user evicted
 * to make room) and ws refused it afterwards.
 *
 * Every case is sent over a raw TCP socket twice: to a bare ws server with
 * the same ws options, and to the supervisor. Both must answer the same
 * status; the supervisor must count a `bad-handshake` rejection, never call
 * authenticate, and hold nothing afterwards.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket, { WebSocketServer, type ServerOptions as WsServerOptions } from 'ws';
import type { RejectedEvent } from '../../src/index.js';
import { rawConnect, readResponseHead, upgradeRequest } from '../helpers/cleanup.js';
import { readPage } from '../helpers/docs.js';
import { closeOf, evictAt, idleTimeoutMs, startRulesServer, touch } from '../helpers/rules.js';
import {
  allDisposed,
  closeServer,
  expectNoLeaks,
  listenOnLoopback,
  userFromQuery,
} from '../helpers/server.js';

type Shape = Parameters<typeof upgradeRequest>[1];

/** A ws server whose shouldHandle refuses every request: an app's own routing rule. */
class RefusingServer extends WebSocketServer {
  override shouldHandle(): boolean {
    return false;
  }
}

/** How the app's WebSocketServer is made; undefined for the supervisor's own. */
type Wss = (() => WebSocketServer) | undefined;
const withOptions =
  (options: WsServerOptions): Wss =>
  () =>
    new WebSocketServer({ noServer: true, maxPayload: 65_536, ...options });
const deflate = withOptions({ perMessageDeflate: true });

/** Sends `request` on a fresh raw socket and resolves with the response head. */
async function answer(port: number, request: string): Promise<string> {
  const socket = await rawConnect(port);
  socket.write(request);
  return readResponseHead(socket);
}

/** A plain ws server (no supervisor): what ws answers to a request, for comparison. */
async function bareWsServer(makeWss: Wss): Promise<number> {
  const wss = makeWss?.() ?? new WebSocketServer({ noServer: true, maxPayload: 65_536 });
  const server = createServer((_request, response) => response.end());
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    wss.handleUpgrade(request, socket, head, (ws) => ws.terminate());
  });
  const port = await listenOnLoopback(server);
  onTestFinished(async () => {
    wss.close();
    await closeServer(server);
  });
  return port;
}

const statusLine = (head: string) => head.split('\r\n', 1)[0];

describe('a malformed upgrade request is refused before authenticate, as ws would refuse it', () => {
  const cases: [string, Wss, Shape, 400 | 405, RegExp | undefined][] = [
    ['a POST instead of a GET', undefined, { method: 'POST' }, 405, /^Allow: GET$/m],
    ['an Upgrade header that is not websocket', undefined, { headers: { Upgrade: 'h2c' } }, 400, undefined],
    ['no Sec-WebSocket-Key', undefined, { headers: { 'Sec-WebSocket-Key': undefined } }, 400, undefined],
    [
      'a Sec-WebSocket-Key that is not 16 bytes',
      undefined,
      { headers: { 'Sec-WebSocket-Key': 'c2hvcnQ=' } },
      400,
      undefined,
    ],
    [
      'a Sec-WebSocket-Key that is not base64',
      undefined,
      { headers: { 'Sec-WebSocket-Key': `${'!'.repeat(22)}==` } },
      400,
      undefined,
    ],
    [
      'no Sec-WebSocket-Version',
      undefined,
      { headers: { 'Sec-WebSocket-Version': undefined } },
      400,
      /^Sec-WebSocket-Version: 13, 8$/m,
    ],
    [
      'an unsupported Sec-WebSocket-Version',
      undefined,
      { headers: { 'Sec-WebSocket-Version': '12' } },
      400,
      /^Sec-WebSocket-Version: 13, 8$/m,
    ],
    [
      'an empty subprotocol in Sec-WebSocket-Protocol',
      undefined,
      { headers: { 'Sec-WebSocket-Protocol': 'chat,,json' } },
      400,
      undefined,
    ],
    [
      'a duplicated subprotocol',
      undefined,
      { headers: { 'Sec-WebSocket-Protocol': 'chat, chat' } },
      400,
      undefined,
    ],
    [
      'a Sec-WebSocket-Extensions header that does not parse (perMessageDeflate on)',
      deflate,
      { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; =1' } },
      400,
      undefined,
    ],
    [
      'a permessage-deflate offer ws cannot accept (perMessageDeflate on)',
      deflate,
      { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_max_window_bits=20' } },
      400,
      undefined,
    ],
    ['a path the app’s WebSocketServer does not serve', withOptions({ path: '/ws' }), {}, 400, undefined],
    [
      'a request the app’s shouldHandle() refuses',
      () => new RefusingServer({ noServer: true, maxPayload: 65_536 }),
      {},
      400,
      undefined,
    ],
  ];

  it.each(cases)('%s', async (_name, makeWss, shape, status, header) => {
    const request = upgradeRequest('mal', shape);
    const wsAnswer = await answer(await bareWsServer(makeWss), request);

    const authenticated: string[] = [];
    const wss = makeWss?.();
    const t = await startRulesServer({
      ...(wss === undefined ? {} : { webSocketServer: wss }),
      authenticate: (r) => {
        const user = userFromQuery(r);
        authenticated.push(String(user));
        return user;
      },
    });
    const supervisorAnswer = await answer(t.port, request);

    expect(statusLine(wsAnswer)).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(statusLine(supervisorAnswer)).toBe(statusLine(wsAnswer));
    if (header !== undefined) expect(supervisorAnswer).toMatch(header);
    expect(authenticated).toEqual([]);
    expect(t.events.rejected).toEqual([
      {
        reason: 'bad-handshake',
        status,
        userId: undefined,
        message: expect.any(String),
        via: 'http',
        remoteAddress: '127.0.0.1',
      } satisfies RejectedEvent,
    ]);
    expect(t.events.admitted).toEqual([]);
    expect(t.supervisor.stats().counters).toEqual({ admitted: 0, rejected: 1, evicted: 0, disposed: 0 });
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('the body says what was wrong', async () => {
    const t = await startRulesServer();
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('mal', { headers: { 'Sec-WebSocket-Key': undefined } }));
    const bytes = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
      });
      socket.on('close', () => resolve(text));
    });
    expect(bytes).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(bytes.endsWith('\r\n\r\nMissing or invalid Sec-WebSocket-Key header\n')).toBe(true);
    expect(t.events.rejected).toMatchObject([
      { reason: 'bad-handshake', status: 400, message: 'Missing or invalid Sec-WebSocket-Key header' },
    ]);
    expectNoLeaks(t.supervisor);
  });
});

describe('an app’s shouldHandle() that throws', () => {
  it('is reported as an AppHookError and answered 500; nothing is admitted', async () => {
    const boom = new Error('routing table missing');
    class Throwing extends WebSocketServer {
      override shouldHandle(): boolean {
        throw boom;
      }
    }
    const t = await startRulesServer({
      webSocketServer: new Throwing({ noServer: true, maxPayload: 65_536 }),
    });
    const head = await answer(t.port, upgradeRequest('u'));
    expect(statusLine(head)).toBe('HTTP/1.1 500 Internal Server Error');
    expect(t.events.rejected).toMatchObject([{ reason: 'bad-handshake', status: 500 }]);
    expect(t.errors).toMatchObject([
      { code: 'WSSUP_APP_HOOK_FAILED', hook: 'webSocketServer.shouldHandle', cause: boom },
    ]);
    expectNoLeaks(t.supervisor);
  });
});

describe('the README’s row for a malformed upgrade request', () => {
  const readme = readPage('docs/rules.md');
  const row = readme.split('\n').find((line) => line.startsWith('| Malformed upgrade request')) ?? '';

  it('names every status such a request is answered with, and nothing was admitted', async () => {
    class Throwing extends WebSocketServer {
      override shouldHandle(): boolean {
        throw new Error('routing table missing');
      }
    }
    const requests: [Wss, string][] = [
      [undefined, upgradeRequest('u', { method: 'POST' })],
      [undefined, upgradeRequest('u', { headers: { 'Sec-WebSocket-Version': '12' } })],
      // RFC 6455 §4.2.1 rules that ws does not check.
      [undefined, upgradeRequest('u').replace('HTTP/1.1', 'HTTP/1.0')],
      [undefined, upgradeRequest('u', { headers: { Host: undefined } })],
      [() => new Throwing({ noServer: true, maxPayload: 65_536 }), upgradeRequest('u')],
    ];
    const statuses = new Set<number>();
    for (const [makeWss, request] of requests) {
      const t = await startRulesServer({ webSocketServer: makeWss?.() });
      statuses.add(Number(statusLine(await answer(t.port, request))?.split(' ')[1]));
      expect(t.events.rejected).toMatchObject([{ reason: 'bad-handshake' }]);
      expectNoLeaks(t.supervisor);
    }
    expect([...statuses].sort()).toEqual([400, 405, 500, 505]);
    for (const status of statuses) expect([status, row.includes(`**${status}**`)]).toEqual([status, true]);
  });
});

describe('what ws accepts is still accepted', () => {
  const cases: [string, Wss, WebSocket.ClientOptions, string | string[] | undefined][] = [
    ['Sec-WebSocket-Version: 8', undefined, { protocolVersion: 8 }, undefined],
    ['a list of subprotocols', undefined, {}, ['chat', 'json']],
    ['a permessage-deflate offer (perMessageDeflate on)', deflate, { perMessageDeflate: true }, undefined],
    [
      'a permessage-deflate offer ws ignores (perMessageDeflate off)',
      undefined,
      { perMessageDeflate: true },
      undefined,
    ],
  ];

  it.each(cases)('%s', async (_name, makeWss, clientOptions, protocols) => {
    const wss = makeWss?.();
    const t = await startRulesServer(wss === undefined ? {} : { webSocketServer: wss });
    const ws = new WebSocket(t.url('fine'), protocols, clientOptions);
    onTestFinished(() => ws.terminate());
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    await touch(ws);
    expect(t.events.admitted).toHaveLength(1);
    expect(t.events.rejected).toEqual([]);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('an unknown extension header is ignored, as ws ignores it, even with perMessageDeflate on', async () => {
    const wss = deflate?.() as WebSocketServer;
    const t = await startRulesServer({ webSocketServer: wss });
    const head = await answer(
      t.port,
      upgradeRequest('fine', { headers: { 'Sec-WebSocket-Extensions': 'x-unknown; a=1' } }),
    );
    expect(statusLine(head)).toBe('HTTP/1.1 101 Switching Protocols');
    expect(t.events.admitted).toHaveLength(1);
  });
});

describe('a malformed request evicts nothing', () => {
  it('user X at T - 1 with an idle connection: the malformed request leaves it; a well-formed one evicts it', async () => {
    const t = await startRulesServer();
    // X holds T - 1 = 3: `old` idle, the other two active. A newcomer makes n = T.
    const old = await t.open('x');
    t.clock.increment(idleTimeoutMs / 2);
    const busy = [await t.open('x'), await t.open('x')];
    t.clock.increment(idleTimeoutMs / 2);
    expect(t.supervisor.userStats('x')).toMatchObject({ live: evictAt - 1, idle: 1 });
    const before = t.supervisor.stats();

    for (const shape of [
      { headers: { 'Sec-WebSocket-Key': undefined } },
      { headers: { 'Sec-WebSocket-Version': '12' } },
      { method: 'POST' },
    ] satisfies Shape[]) {
      const head = await answer(t.port, upgradeRequest('x', shape));
      expect(head).toMatch(/^HTTP\/1\.1 40[05] /);
    }

    expect(t.events.evicted).toEqual([]);
    expect(t.events.rejected.map((event) => [event.reason, event.status])).toEqual([
      ['bad-handshake', 400],
      ['bad-handshake', 400],
      ['bad-handshake', 405],
    ]);
    expect(t.supervisor.userStats('x')).toMatchObject({ live: evictAt - 1, idle: 1, draining: 0 });
    const after = t.supervisor.stats();
    expect(after.resources).toEqual(before.resources);
    expect(after.counters).toEqual({ ...before.counters, rejected: before.counters.rejected + 3 });
    // `old` is still open and idle: the next well-formed request of X is what evicts it.
    const oldClosed = closeOf(old.ws);
    const newcomer = await t.open('x');
    expect(t.events.evicted.map((event) => event.connectionId)).toEqual([old.id]);
    expect(await oldClosed).toMatchObject({ code: 4001 });

    for (const { ws } of [...busy, newcomer]) ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});
