/**
 * checkHandshake() is pure: the integration table (test/integration/handshake.test.ts)
 * compares it with ws over real sockets; these are the cases a socket cannot reach.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { AppHookError } from '../../src/index.js';
import { checkHandshake } from '../../src/transport/handshake.js';
import { validKey } from '../helpers/cleanup.js';

const request = (headers: Record<string, string | undefined> = {}, method = 'GET', httpVersion = '1.1') =>
  ({
    method,
    url: '/?user=u',
    httpVersionMajor: Number(httpVersion.split('.')[0]),
    httpVersionMinor: Number(httpVersion.split('.')[1]),
    headers: {
      host: '127.0.0.1',
      upgrade: 'websocket',
      'sec-websocket-key': validKey,
      'sec-websocket-version': '13',
      ...headers,
    },
  }) as unknown as IncomingMessage;

describe('checkHandshake', () => {
  it('accepts a well-formed request, with ws’s spellings of the version', () => {
    const wss = new WebSocketServer({ noServer: true });
    for (const version of ['13', '8', ' 13', '13.0'])
      expect(checkHandshake(request({ 'sec-websocket-version': version }), wss)).toBeUndefined();
    expect(checkHandshake(request({ upgrade: 'WebSocket' }), wss)).toBeUndefined();
  });

  it('a shouldHandle() that throws: HTTP 500 and an AppHookError to report, not a rejected promise', () => {
    const boom = new Error('routing table missing');
    class Throwing extends WebSocketServer {
      override shouldHandle(): boolean {
        throw boom;
      }
    }
    const refusal = checkHandshake(request(), new Throwing({ noServer: true }));
    expect(refusal).toMatchObject({ status: 500, message: 'Internal Server Error' });
    expect(refusal?.error).toBeInstanceOf(AppHookError);
    expect(refusal?.error).toMatchObject({
      code: 'WSSUP_APP_HOOK_FAILED',
      hook: 'webSocketServer.shouldHandle',
      cause: boom,
    });
  });

  it('refuses what RFC 6455 §4.2.1 forbids and ws lets through: HTTP/1.0, no Host header', () => {
    const wss = new WebSocketServer({ noServer: true });
    expect(checkHandshake(request({}, 'GET', '1.0'), wss)).toMatchObject({ status: 505 });
    expect(checkHandshake(request({}, 'GET', '0.9'), wss)).toMatchObject({ status: 505 });
    expect(checkHandshake(request({ host: undefined }), wss)).toMatchObject({ status: 400 });
    expect(checkHandshake(request({}, 'GET', '2.0'), wss)).toBeUndefined();
  });

  it('the version refusal names the versions ws speaks; the method refusal names GET', () => {
    const wss = new WebSocketServer({ noServer: true });
    expect(checkHandshake(request({ 'sec-websocket-version': '7' }), wss)).toEqual({
      status: 400,
      message: 'Missing or invalid Sec-WebSocket-Version header',
      headers: { 'Sec-WebSocket-Version': '13, 8' },
    });
    expect(checkHandshake(request({}, 'PUT'), wss)).toEqual({
      status: 405,
      message: 'Invalid HTTP method',
      headers: { Allow: 'GET' },
    });
  });
});
