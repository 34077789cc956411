/**
 * Why a connection failed, under Node with ws's WebSocket: ws gives the reason with its `error`
 * event (a refused TCP connection, a host that does not resolve, a certificate the client does
 * not trust, a handshake answered wrongly), and the `close` 1006 that follows says it as its
 * `reason`. Before, every such close said `''`, so a service backing off forever could not
 * log why (README, Client: the 1006 row). A browser's WebSocket says nothing: its reason stays ''.
 */

import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { closeServer } from '../helpers/server.js';
import { expectReleased, pingBlindWebSocket, startClient } from './helpers.js';

const listen = async (server: Server): Promise<number> => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
};

/** A loopback port with nothing listening on it: connections are refused. */
async function deadPort(): Promise<number> {
  const server = createTcpServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A TCP server answering every upgrade with a 101 whose Sec-WebSocket-Accept is wrong. */
async function wrongAcceptServer(): Promise<number> {
  const server: Server = createTcpServer((socket) => {
    socket.once('data', () =>
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Accept: bm90IHRoZSByaWdodCBrZXk=\r\n\r\n',
      ),
    );
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => sockets.add(socket));
  const port = await listen(server);
  onTestFinished(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return port;
}

describe('a failed connection says why in its reason (Node, ws)', () => {
  it('a refused TCP connection: 1006 `connect ECONNREFUSED …`, backed off as before', async () => {
    const port = await deadPort();
    const t = startClient({ url: `ws://127.0.0.1:${port}/` });

    expect(await t.next('close')).toEqual({
      code: 1006,
      kind: 'abnormal',
      reason: `connect ECONNREFUSED 127.0.0.1:${port}`,
      errorCode: 'ECONNREFUSED', // Node's err.code: stable where the words are not
      retryAfterMs: undefined,
      wasClean: false,
      opened: false,
      next: 'reconnect',
    });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });

    t.client.close();
    await expectReleased(t);
  });

  it('a certificate the client does not trust: the TLS error, not an empty reason', async () => {
    const fixture = (name: string) => readFileSync(new URL(`../helpers/fixtures/${name}`, import.meta.url));
    const https = createHttpsServer({
      key: fixture('localhost-key.pem'),
      cert: fixture('localhost-cert.pem'),
    });
    const port = await listen(https);
    onTestFinished(() => closeServer(https));
    const t = startClient({ url: `wss://127.0.0.1:${port}/` });

    const close = await t.next('close');
    expect(close).toMatchObject({ code: 1006, kind: 'abnormal', wasClean: false, next: 'reconnect' });
    expect(close.reason).toMatch(/certificate/);
    // A self-signed certificate: Node's code for it, what an app switches on.
    expect(close.errorCode).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');

    t.client.close();
    await expectReleased(t);
  });

  it('a handshake answered wrongly: ws’s words for it', async () => {
    const port = await wrongAcceptServer();
    const t = startClient({ url: `ws://127.0.0.1:${port}/` });

    expect(await t.next('close')).toMatchObject({
      code: 1006,
      reason: 'Invalid Sec-WebSocket-Accept header',
    });

    t.client.close();
    await expectReleased(t);
  });

  it('a WebSocket whose error event carries no message (a browser’s): the reason stays empty', async () => {
    const port = await deadPort();
    const blind = pingBlindWebSocket();
    // A browser's error is a bare Event: no message, no error.
    class BareErrors extends blind.WebSocket {
      override addEventListener(type: string, listener: (event: never) => void) {
        super.addEventListener(
          type,
          type === 'error' ? () => listener(new Event('error') as never) : listener,
        );
      }
    }
    const t = startClient({ url: `ws://127.0.0.1:${port}/`, WebSocket: BareErrors });

    const close = await t.next('close');
    expect(close).toMatchObject({ code: 1006, reason: '', next: 'reconnect' });
    expect('errorCode' in close).toBe(false);
    t.client.close();
  });
});
