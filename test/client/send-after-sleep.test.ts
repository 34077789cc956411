/**
 * A send after a sleep: the device slept (a laptop's closed lid, a phone's throttled tab) with
 * its timers frozen while its clock went on, so the silence delay armed before still waits its
 * remaining time after the wake. With `silenceTimeoutMs`, a send() that finds the server quiet
 * for the whole timeout by the client's clock gives the socket up at once, as the delay would
 * have (1006), writes nothing into it and returns false; the client then reconnects. On real
 * sockets, with `sleep()` (test/client/helpers.ts) moving the clock without firing a timer.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { ioWait } from '../helpers/server.js';
import { expectReleased, startClient } from './helpers.js';

const SILENCE_MS = 2_000;

/** A ws server on port 0 that says nothing (no ping, no message) and records what it receives. */
async function startQuietServer() {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const received: string[] = [];
  const connections: { ws: WebSocket; closed: boolean }[] = [];
  server.on('connection', (ws) => {
    const entry = { ws, closed: false };
    connections.push(entry);
    ws.on('message', (data) => received.push(String(data)));
    ws.on('close', () => {
      entry.closed = true;
    });
  });
  onTestFinished(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    received,
    connections,
    open: () => connections.filter((c) => !c.closed).length,
  };
}

describe('send() after a sleep, with silenceTimeoutMs', () => {
  it('finds the server quiet past the timeout: the socket is given up (1006), nothing is sent, false; then it reconnects', async () => {
    const server = await startQuietServer();
    const t = startClient({ url: server.url, silenceTimeoutMs: SILENCE_MS });
    await t.next('open');
    await vi.waitFor(() => expect(server.open()).toBe(1), ioWait);

    t.sleep(60_000); // an hour would do as well: no timer fired meanwhile
    expect(t.client.state).toBe('open');
    const from = t.mark();
    expect(t.client.send('written into a dead socket?')).toBe(false);
    // Not given up yet: the check looks again one turn later, after the messages that may
    // have waited in the socket through the sleep are read. Meanwhile nothing is written.
    expect(t.client.state).toBe('open');
    expect(t.client.send('while the check is pending')).toBe(false);
    t.simulated.increment(0); // one turn later: nothing read, still silent
    expect(t.client.state).toBe('waiting');
    expect(await t.next('close', from)).toEqual({
      code: 1006,
      reason: `no message from the server for ${SILENCE_MS} ms`,
      cause: 'silence',
      retryAfterMs: undefined,
      wasClean: false,
      opened: true,
      kind: 'abnormal',
      next: 'reconnect',
    });
    const { delayMs } = await t.next('reconnecting', from);
    await vi.waitFor(() => expect(server.open()).toBe(0), ioWait);
    expect(server.received).toEqual([]);
    expect(t.client.send('while waiting')).toBe(false);

    // The backoff brings it back; the app sends again once it is open.
    const again = t.mark();
    t.simulated.increment(delayMs);
    await t.next('open', again);
    expect(t.client.send('after the wake')).toBe(true);
    await vi.waitFor(() => expect(server.received).toEqual(['after the wake']), ioWait);

    t.client.close();
    await expectReleased(t);
  });

  it('quiet for less than the timeout: sent as usual', async () => {
    const server = await startQuietServer();
    const t = startClient({ url: server.url, silenceTimeoutMs: SILENCE_MS });
    await t.next('open');
    t.sleep(SILENCE_MS - 1);
    expect(t.client.send('in time')).toBe(true);
    expect(t.client.state).toBe('open');
    await vi.waitFor(() => expect(server.received).toEqual(['in time']), ioWait);
    t.client.close();
    await expectReleased(t);
  });

  it('heard from after the wake: the socket is alive, and the message is sent', async () => {
    const server = await startQuietServer();
    const t = startClient({ url: server.url, silenceTimeoutMs: SILENCE_MS });
    await t.next('open');
    t.sleep(60_000);
    const from = t.mark();
    server.connections[0]?.ws.send('good morning');
    await t.next('message', from);
    expect(t.client.send('hello')).toBe(true);
    expect(t.client.state).toBe('open');
    await vi.waitFor(() => expect(server.received).toEqual(['hello']), ioWait);
    t.client.close();
    await expectReleased(t);
  });

  it("the server's messages already on their way when the check runs: read before it looks again, the socket kept", async () => {
    const server = await startQuietServer();
    const t = startClient({ url: server.url, silenceTimeoutMs: SILENCE_MS });
    await t.next('open');
    t.sleep(60_000);
    const from = t.mark();
    // The server spoke during the sleep, but the client has not read it yet: a thawed tab's or
    // a blocked process's first task, before the socket's data.
    server.connections[0]?.ws.send('sent while you slept');
    expect(t.client.send('not yet')).toBe(false);
    expect(t.client.state).toBe('open');
    await t.next('message', from); // read
    t.simulated.increment(0); // the check looks again: heard
    expect(t.client.state).toBe('open');
    expect(t.events.slice(from).map(([type]) => type)).toEqual(['message']);
    expect(t.client.send('hello again')).toBe(true);
    await vi.waitFor(() => expect(server.received).toEqual(['hello again']), ioWait);
    t.client.close();
    await expectReleased(t);
  });

  it('a send from inside a listener of the step that opened the socket still answers false and sends nothing', async () => {
    const server = await startQuietServer();
    const t = startClient({ url: server.url, silenceTimeoutMs: SILENCE_MS });
    await t.next('open');
    // Reconnect: the second open's listener sends after another sleep, inside that step.
    const answers: boolean[] = [];
    t.client.on('open', () => {
      t.sleep(60_000);
      answers.push(t.client.send('from the open listener'));
    });
    const from = t.mark();
    server.connections[0]?.ws.terminate();
    const { delayMs } = await t.next('reconnecting', from);
    t.simulated.increment(delayMs);
    await t.next('open', from);
    expect(answers).toEqual([false]);
    t.simulated.increment(0); // the check's second look
    await vi.waitFor(() => expect(t.client.state).toBe('waiting'), ioWait);
    expect(t.client.lastClose).toMatchObject({
      code: 1006,
      reason: `no message from the server for ${SILENCE_MS} ms`,
      cause: 'silence',
    });
    expect(server.received).toEqual([]);
    t.client.close();
    await expectReleased(t);
  });

  it('on its default clock, a sleep in which performance.now() stood still is seen on the wall clock', async () => {
    // No `clock` option. Chrome and Safari on macOS keep performance.now() still while the
    // device sleeps: only Date.now() moves. Read on performance.now() alone, the sleep showed
    // no quiet time, and the message went into the dead socket.
    const server = await startQuietServer();
    const t = startClient({ url: server.url, silenceTimeoutMs: SILENCE_MS, clock: undefined });
    await t.next('open');
    await vi.waitFor(() => expect(server.open()).toBe(1), ioWait);
    const wallClock = Date.now.bind(Date);
    const slept = vi.spyOn(Date, 'now').mockImplementation(() => wallClock() + 3_600_000);
    onTestFinished(() => slept.mockRestore());
    const from = t.mark();
    expect(t.client.send('written into a dead socket?')).toBe(false);
    expect(await t.next('close', from)).toMatchObject({
      code: 1006,
      reason: `no message from the server for ${SILENCE_MS} ms`,
      cause: 'silence',
    });
    await vi.waitFor(() => expect(server.open()).toBe(0), ioWait);
    expect(server.received).toEqual([]);
    t.client.close();
    await expectReleased(t);
  });

  it('without silenceTimeoutMs, a send after a sleep is sent: nothing watches the silence', async () => {
    const server = await startQuietServer();
    const t = startClient({ url: server.url });
    await t.next('open');
    t.sleep(24 * 3_600_000);
    expect(t.client.send('still trusting TCP')).toBe(true);
    expect(t.client.state).toBe('open');
    await vi.waitFor(() => expect(server.received).toEqual(['still trusting TCP']), ioWait);
    t.client.close();
    await expectReleased(t);
  });
});
