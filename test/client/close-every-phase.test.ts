/**
 * `client.close()` in every phase of a real client (ws's WebSocket, real
 * servers on port 0, the client's delays on a SimulatedClock): connecting to
 * a server that never answers, waiting out a backoff, open, in the middle of
 * a close, suspended by 4401, and waiting for an async `url`. Each time
 * nothing is left behind (no delay pending, no listener on any socket, the
 * server sees its end of every socket close), a second close() changes
 * nothing, and send() after close() answers false (a bad argument still
 * throws WSSUP_INVALID_ARGUMENT), as the README says.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { WebSocketServer } from 'ws';
import type { ClientState } from '../../src/client/index.js';
import { expectReleased, silentServer, startClient, startClosingServer, type TestClient } from './helpers.js';

/** A ws server that keeps every connection open; `closes` records each close the server saw. */
async function keepingServer() {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const closes: number[] = [];
  server.on('connection', (ws) => ws.on('close', (code) => closes.push(code)));
  onTestFinished(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `ws://127.0.0.1:${port}/`, closes };
}

/** Polls `check` (real time, generous: the machine may be loaded). */
async function until(check: () => boolean, what: string) {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** What every phase must end with: close() twice, then nothing held, nothing sent, nothing heard. */
async function closeAndCheck(t: TestClient, expectedBefore: ClientState) {
  expect(t.client.state).toBe(expectedBefore);
  t.client.close();
  const heard = t.mark();
  expect(() => t.client.close()).not.toThrow();
  expect(t.client.state).toBe('closed');
  expect(t.client.send('after close')).toBe(false);
  expect(() => t.client.send(42 as never)).toThrow(
    expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
  );
  t.client.activity();
  t.client.resume();
  await expectReleased(t);
  // Nothing reconnects later, whatever the clock does.
  t.simulated.increment(10 * 60_000);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(t.clock.pending).toBe(0);
  expect(t.events.slice(heard)).toEqual([]);
  expect(t.client.state).toBe('closed');
}

describe('close() in every phase leaves nothing behind', () => {
  it('connecting, to a server that never answers the upgrade: the request is aborted', async () => {
    const server = await silentServer();
    const t = startClient({ url: server.url, connectTimeoutMs: 60_000 });
    await until(() => server.accepted() === 1, 'the connection');
    expect(t.clock.pending).toBe(1); // the connect timeout
    await closeAndCheck(t, 'connecting');
    await until(() => server.open() === 0, 'the server to see the socket close');
    expect(t.sockets).toHaveLength(1);
  });

  it('waiting for a backoff: the delay is cancelled and no attempt follows', async () => {
    const server = await startClosingServer({ code: 1011, reason: 'oops' });
    const t = startClient({ url: server.url });
    await t.next('reconnecting');
    expect(t.clock.pending).toBe(1);
    await closeAndCheck(t, 'waiting');
    expect(server.connections()).toBe(1);
  });

  it('open: the socket is closed with 1000', async () => {
    const server = await keepingServer();
    const t = startClient({ url: server.url });
    await t.next('open');
    await closeAndCheck(t, 'open');
    await until(() => server.closes.length === 1, 'the server to see the close');
    expect(server.closes).toEqual([1000]);
  });

  it('closing: close() from inside the `close` listener, as the server closes the socket', async () => {
    const server = await keepingServer();
    const t = startClient({ url: server.url });
    await t.next('open');
    const closed = new Promise<void>((resolve) => {
      t.client.on('close', () => {
        t.client.close();
        resolve();
      });
    });
    for (const ws of server.server.clients) ws.close(4008, 'slow');
    await closed;
    await closeAndCheck(t, 'closed');
    expect(t.events.filter(([type]) => type === 'reconnecting')).toEqual([]);
  });

  it('closing: the socket still in its closing handshake when close() comes again', async () => {
    const server = await keepingServer();
    const t = startClient({ url: server.url });
    await t.next('open');
    const socket = t.sockets[0];
    t.client.close();
    expect(socket?.readyState).toBe(socket?.CLOSING);
    await closeAndCheck(t, 'closed');
    await until(() => server.closes.length === 1, 'the server to see the close');
  });

  it('suspended by 4401: resume() after close() does nothing', async () => {
    const server = await startClosingServer({ code: 4401, reason: 'who are you' });
    const t = startClient({ url: server.url });
    await until(() => t.client.state === 'suspended', 'suspended');
    expect(t.clock.pending).toBe(0);
    await closeAndCheck(t, 'suspended');
    expect(server.connections()).toBe(1);
  });

  it('waiting for an async url: its late answer opens no socket', async () => {
    const server = await keepingServer();
    let answer!: (url: string) => void;
    const t = startClient({
      url: () =>
        new Promise<string>((resolve) => {
          answer = resolve;
        }),
    });
    expect(answer).toBeTypeOf('function');
    expect(t.clock.pending).toBe(1); // the connect timeout bounds the wait
    await closeAndCheck(t, 'connecting');
    answer(server.url);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(t.sockets).toEqual([]);
    expect(server.server.clients.size).toBe(0);
  });
});

describe("close() from inside the client's own listeners leaves nothing behind", () => {
  it.each([
    ['open', 'keeping'],
    ['state', 'keeping'],
    ['close', 'closing'],
    ['reconnecting', 'closing'],
    ['error', 'failing'],
  ] as const)('from a `%s` listener', async (type, kind) => {
    const server = kind === 'closing' ? await startClosingServer({ code: 1011, reason: 'oops' }) : undefined;
    const keeping = kind === 'keeping' ? await keepingServer() : undefined;
    const url = server?.url ?? keeping?.url ?? '';
    const t = startClient({
      url:
        kind === 'failing'
          ? () => {
              throw new Error('no token');
            }
          : url,
    });
    let calls = 0;
    t.client.on(type, () => {
      calls += 1;
      t.client.close();
      t.client.close();
    });
    await until(() => t.client.state === 'closed', 'closed');
    // A `state` listener hears one thing more, as documented: the final `closed`.
    expect(calls).toBe(type === 'state' ? 2 : 1);
    expect(t.client.send('after close')).toBe(false);
    await expectReleased(t);
    const heard = t.mark();
    t.simulated.increment(10 * 60_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(t.events.slice(heard)).toEqual([]);
    expect(t.clock.pending).toBe(0);
    if (server !== undefined) expect(server.connections()).toBe(1);
    if (keeping !== undefined) {
      await until(() => keeping.closes.length === 1, 'the server to see the close');
      expect(keeping.closes).toEqual([1000]);
    }
  });
});
