/**
 * attach() of a node:http2 server. A cleartext `http2.createServer()` never
 * carries an HTTP/1.1 request, so never an upgrade (Node's http2 connection
 * listener falls back to HTTP/1.1 only for a TLS socket whose ALPN chose
 * http/1.1 or none, and only with allowHTTP1; a plain TCP socket goes straight
 * to an HTTP/2 session, and a WebSocket client's request line gets a GOAWAY):
 * attach() took it and every client failed with a parse error. It is refused
 * now. `http2.createSecureServer({ allowHTTP1: true })` carries upgrades over
 * TLS, and serves HTTP/2 requests on the same port.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { createSupervisor } from '../../src/index.js';
import { allDisposed, closed, expectNoLeaks, nextMessage, userFromQuery } from '../helpers/server.js';

// A self-signed certificate for localhost and 127.0.0.1, valid until 2126 (test/helpers/fixtures).
const fixture = (name: string) => readFileSync(new URL(`../helpers/fixtures/${name}`, import.meta.url));
const cert = fixture('localhost-cert.pem');
const key = fixture('localhost-key.pem');

function echoSupervisor() {
  const errors: unknown[] = [];
  const supervisor = createSupervisor({
    preset: 'test',
    authenticate: userFromQuery,
    onMessage: (connection, data, isBinary) => connection.send(data, { binary: isBinary }),
    onError: (error) => errors.push(error),
  });
  onTestFinished(() => supervisor.shutdown({ deadlineMs: 100 }));
  return { supervisor, errors };
}

describe('attach() of an HTTP/2 server', () => {
  it.each([
    ['http2.createServer()', () => http2.createServer()],
    // allowHTTP1 changes nothing without TLS: the fallback is chosen by ALPN.
    [
      'http2.createServer({ allowHTTP1: true })',
      () => http2.createServer({ allowHTTP1: true } as http2.ServerOptions),
    ],
  ])('refuses a cleartext one, %s, which never sees an upgrade, and says what to use', (_name, create) => {
    const { supervisor } = echoSupervisor();
    const server = create();
    // Node's own http2 server listens for 'newListener' (its compatibility API).
    const newListeners = server.listenerCount('newListener');
    for (const path of [undefined, '/ws']) {
      expect(() => supervisor.attach(server as never, { path })).toThrow(
        expect.objectContaining({
          code: 'WSSUP_INVALID_ARGUMENT',
          message: expect.stringMatching(
            /cleartext HTTP\/2 server.*node:http.*node:https.*http2\.createSecureServer\(\{ allowHTTP1: true \}\)/,
          ),
        }),
      );
    }
    // Nothing was attached by the refused calls.
    expect(server.listenerCount('upgrade')).toBe(0);
    expect(server.listenerCount('newListener')).toBe(newListeners);
  });

  it('carries upgrades end to end on http2.createSecureServer({ allowHTTP1: true }), beside HTTP/2 requests', async () => {
    const { supervisor, errors } = echoSupervisor();
    const server = http2.createSecureServer({ key, cert, allowHTTP1: true }, (request, response) => {
      response.end(`HTTP/${request.httpVersion}`);
    });
    const detach = supervisor.attach(server, { path: '/ws' });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;

    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws?user=ada`, { ca: cert });
    onTestFinished(() => ws.terminate());
    await once(ws, 'open');
    expect(supervisor.userStats('ada')).toMatchObject({ live: 1 });
    ws.send('over TLS');
    expect(String(await nextMessage(ws))).toBe('over TLS');

    // The same port still serves HTTP/2 requests.
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: cert });
    onTestFinished(() => session.destroy());
    const stream = session.request({ ':path': '/' });
    stream.setEncoding('utf8');
    let body = '';
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    await once(stream, 'end');
    expect(body).toBe('HTTP/2.0');
    session.close();

    const closing = closed(ws);
    ws.close(1000);
    await closing;
    await allDisposed(supervisor);
    detach();
    expect(server.listenerCount('upgrade')).toBe(0);
    expect(errors).toEqual([]);
    expectNoLeaks(supervisor);
  });

  it('handleUpgrade() given an HTTP/2 request reports it and resets that stream alone (HTTP/2 has no Upgrade)', async () => {
    const { supervisor, errors } = echoSupervisor();
    const server = http2.createSecureServer({ key, cert, allowHTTP1: true }, (request, response) => {
      // An app's slip: its request handler hands over what an 'upgrade' listener would.
      if (request.url.startsWith('/ws'))
        void supervisor.handleUpgrade(request as never, request.socket, Buffer.alloc(0));
      else response.end('still serving');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: cert });
    onTestFinished(() => session.destroy());
    const fetch = async (path: string) => {
      const stream = session.request({ ':path': path });
      stream.setEncoding('utf8');
      let status: unknown;
      let body = '';
      stream.on('response', (headers) => {
        status = headers[':status'];
      });
      stream.on('data', (chunk: string) => {
        body += chunk;
      });
      // The reset is also an 'error' (which once() would throw): the status and code say it all.
      stream.on('error', () => {});
      await new Promise((resolve) => stream.on('close', resolve));
      return { status, body, rstCode: stream.rstCode };
    };

    // Not a 200 whose body is an HTTP/1.1 answer written into the stream: the stream is reset,
    // with the code that tells the client to use HTTP/1.1 (RFC 9113 §7).
    expect(await fetch('/ws?user=ada')).toEqual({
      status: undefined,
      body: '',
      rstCode: http2.constants.NGHTTP2_HTTP_1_1_REQUIRED,
    });
    expect(errors).toEqual([
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringMatching(/HTTP\/2 request.*'upgrade' event/),
      }),
    ]);
    // The session, and the server's other requests, are left alone.
    expect(await fetch('/')).toEqual({
      status: 200,
      body: 'still serving',
      rstCode: http2.constants.NGHTTP2_NO_ERROR,
    });
    expect(supervisor.stats().counters).toMatchObject({ admitted: 0 });
    expectNoLeaks(supervisor);
  });
});
