/**
 * The transport error's `code` on the `close` event (`errorCode`), under Node with ws: a failed
 * TLS handshake or connect says why in words that may change (`reason`) and in Node's stable
 * `err.code`, which an app switches on. The disposition stays the 1006's: backed off (a
 * certificate may be rotated, a server restarted). Real servers on port 0: an https server
 * with the test certificates of test/fixtures/tls (signed by a CA no system trusts).
 * connect-failure-reason.test.ts checks ECONNREFUSED, a self-signed certificate, and a
 * browser's bare error event (no errorCode).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createSupervisor } from '../../src/index.js';
import { closeServer, listenOnLoopback, userFromQuery } from '../helpers/server.js';
import { expectReleased, startClient } from './helpers.js';

const tls = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url));

/** A supervisor behind an https server whose certificate the client has no CA for. */
async function startTlsServer() {
  const https = createServer({ key: tls('server.key'), cert: tls('server.crt') });
  const supervisor = createSupervisor({ preset: 'test', authenticate: userFromQuery });
  supervisor.attach(https);
  const port = await listenOnLoopback(https);
  onTestFinished(async () => {
    await supervisor.shutdown({ deadlineMs: 200 });
    await closeServer(https);
  });
  return port;
}

describe('the transport error’s code on `close` (errorCode)', () => {
  it('wss:// to a certificate of an unknown CA: 1006 with the TLS error’s code, backed off', async () => {
    const port = await startTlsServer();
    const t = startClient({ url: `wss://127.0.0.1:${port}/?user=ann` });

    expect(await t.next('close')).toEqual({
      code: 1006,
      kind: 'abnormal',
      reason: 'unable to verify the first certificate',
      errorCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      retryAfterMs: undefined,
      wasClean: false,
      opened: false,
      next: 'reconnect',
    });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    t.client.close();
    await expectReleased(t);
  });

  it('a close frame, or a refused upgrade: no errorCode', async () => {
    const http = (await import('node:http')).createServer();
    const supervisor = createSupervisor({ preset: 'test', authenticate: () => undefined });
    supervisor.attach(http);
    const port = await listenOnLoopback(http);
    onTestFinished(async () => {
      await supervisor.shutdown({ deadlineMs: 200 });
      await closeServer(http);
    });
    const t = startClient({ url: `ws://127.0.0.1:${port}/` });
    const close = await t.next('close');
    expect(close).toMatchObject({ code: 4401 });
    expect('errorCode' in close).toBe(false);
    t.client.close();
    await expectReleased(t);
  });
});
