/**
 * An unpaced shutdown() of many connections keeps the event loop free: the connections are
 * told to leave in chunks, one turn of the event loop each, so an HTTP request on the same
 * server (a load balancer's probe) is answered while the drain goes on, not after every close
 * frame was written. An operator trial with 2,000–5,000 connections saw `GET /readyz`, sent
 * 25 ms after SIGTERM, hang 3 s and get ECONNRESET: shutdown() told all of them in one
 * callback, which held the loop for seconds. Real clock, real sockets; ordering, not speed.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { closed, connect, expectNoLeaks, startServer } from '../helpers/server.js';

/** A kept-alive HTTP connection, so that a request costs one turn of the server's loop. */
async function keptAlive(port: number): Promise<{ socket: Socket; get(path: string): Promise<string> }> {
  const socket = netConnect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let buffered = '';
  return {
    socket,
    get(path) {
      return new Promise((resolve) => {
        const onData = (chunk: Buffer) => {
          buffered += chunk.toString('latin1');
          const end = buffered.indexOf('\r\n\r\n');
          const length = /content-length: (\d+)/i.exec(buffered)?.[1];
          if (end === -1 || length === undefined || buffered.length < end + 4 + Number(length)) return;
          socket.off('data', onData);
          const response = buffered.slice(0, end + 4 + Number(length));
          buffered = buffered.slice(response.length);
          resolve(response.split('\r\n', 1)[0] as string);
        };
        socket.on('data', onData);
        socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      });
    },
  };
}

/** Opens `connections` clients (user of each: `userOf(i)`), shuts down, and probes right after. */
async function probeDuringDrain(
  connections: number,
  userOf: (i: number) => string,
  limit: number,
): Promise<void> {
  // Room for all of them, and none idle: no eviction while they open on a slow machine.
  const t = await startServer({ maxConnectionsPerUser: limit, idleTimeoutMs: 600_000 });
  const sockets: WebSocket[] = [];
  for (let i = 0; i < connections; i++) sockets.push(await connect(t.url(userOf(i))));
  expect(t.supervisor.stats().connections).toBe(connections);
  const probe = await keptAlive(t.port);
  expect(await probe.get('/healthz')).toBe('HTTP/1.1 200 OK');
  // What the server's own books say when the request is handled: connections not yet told.
  const liveAtRequest: number[] = [];
  t.server.on('request', () => liveAtRequest.push(t.supervisor.stats().byState.active));
  const closes = sockets.map((ws) => closed(ws));

  const done = t.supervisor.shutdown();
  const answered = probe.get('/healthz');
  let drained = false;
  void done.then(() => {
    drained = true;
  });
  expect(await answered).toBe('HTTP/1.1 200 OK');
  // Answered mid-drain: the shutdown had not resolved, and some connections were still live.
  expect(drained).toBe(false);
  expect(liveAtRequest[0]).toBeGreaterThan(0);

  await done;
  // Every client still got its 1001, and nothing is left.
  for (const close of await Promise.all(closes)) expect(close.code).toBe(1001);
  expectNoLeaks(t.supervisor);
  probe.socket.destroy();
}

describe('shutdown() of many connections, unpaced', () => {
  it(
    'answers an HTTP request sent right after it starts before every connection was told to leave',
    () => probeDuringDrain(400, (i) => `user-${i}`, 5), // four chunks of 100
    30_000,
  );

  it(
    'does so too when each user holds more connections than a chunk (a user a chunk, told as a whole)',
    () => probeDuringDrain(600, (i) => `user-${i % 4}`, 150), // four users of 150: four chunks
    30_000,
  );
});

describe('shutdown() of one user holding more connections than a chunk', () => {
  it("tells the user's supervisor as a whole in the first chunk, never child by child", async () => {
    const t = await startServer({ maxConnectionsPerUser: 200, idleTimeoutMs: 600_000 });
    const sockets: WebSocket[] = [];
    for (let i = 0; i < 150; i++) sockets.push(await connect(t.url('big')));
    await connect(t.url('small')).then((ws) => sockets.push(ws));
    const closes = sockets.map((ws) => closed(ws));

    const done = t.supervisor.shutdown();
    // Inside the call: all 150 told at once (one SHUTDOWN to its supervisor), a chunk of its own.
    expect(t.supervisor.userStats('big')).toMatchObject({ live: 0, draining: 150 });
    expect(t.supervisor.userStats('small')).toMatchObject({ live: 1 }); // the next chunk's
    await done;
    for (const close of await Promise.all(closes)) expect(close.code).toBe(1001);
    expectNoLeaks(t.supervisor);
  }, 30_000);
});
