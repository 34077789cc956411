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
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:https';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createSupervisor } from '../../src/index.js';
import { closeServer, ioWait, listenOnLoopback, userFromQuery } from '../helpers/server.js';
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
  it('ECONNREFUSED, then a close of no error (a connect timeout): the second close has no errorCode', async () => {
    // A port with nothing listening, then a server that takes the upgrade and never answers.
    const dead = createHttpServer();
    const deadPort = await listenOnLoopback(dead);
    await closeServer(dead);
    const silent = createHttpServer();
    silent.on('upgrade', (_request, socket) => {
      socket.on('error', () => {});
      onTestFinished(() => void socket.destroy());
    });
    const silentPort = await listenOnLoopback(silent);
    onTestFinished(() => closeServer(silent));
    let attempts = 0;
    const t = startClient({
      url: () => {
        attempts += 1;
        return `ws://127.0.0.1:${attempts === 1 ? deadPort : silentPort}/`;
      },
      connectTimeoutMs: 1_000,
    });

    expect(await t.next('close')).toMatchObject({ code: 1006, errorCode: 'ECONNREFUSED' });
    const from = t.mark();
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    t.simulated.increment(250);
    await vi.waitFor(() => expect(attempts).toBe(2), ioWait);
    t.simulated.increment(1_000);
    const close = await t.next('close', from);
    expect(close).toMatchObject({ code: 1006, reason: 'connect timeout' });
    expect('errorCode' in close).toBe(false);
    t.client.close();
    await expectReleased(t);
  });
});
