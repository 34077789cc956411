/**
 * Every example starts with one command, prints its listening line, serves,
 * and drains on SIGTERM. These run the built programs (npm test builds first).
 */
import { once } from 'node:events';
import { connect as connectTcp } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { PerUserStats } from '../../examples/reference-server/stats-route.js';
import type { SupervisorStats } from '../../src/index.js';
import { runCommand, runProgram } from '../helpers/process.js';
import { closed, connectRefused, nextMessage } from '../helpers/server.js';

async function open(url: string, options?: WebSocket.ClientOptions): Promise<WebSocket> {
  const ws = new WebSocket(url, options);
  await once(ws, 'open');
  return ws;
}

describe('reference server (npm start)', () => {
  const script = 'dist/examples/reference-server/main.js';

  it('`npm start` itself builds, serves, and drains on a SIGTERM sent to npm', async () => {
    const program = runCommand('npm', ['start', '--', '--port', '0', '--preset', 'test']);
    const [, url] = await program.waitFor(/listening on (ws:\/\/127\.0\.0\.1:\d+)/);
    const ws = await open(`${url}/?user=npm`);
    ws.send('via npm');
    expect(await nextMessage(ws)).toBe('via npm');
    const closing = closed(ws);
    program.child.kill('SIGTERM'); // to npm, as a process manager would
    expect((await closing).code).toBe(1001);
    expect(await program.exited).toBe(0);
    expect(program.output()).toMatch(/drained; bye/);
    // `npm start` runs the whole build first (tsc, every module): slow on a busy machine.
  }, 90_000);

  it('echoes, serves /stats, and drains clients with 1001 on SIGTERM', async () => {
    const program = runProgram(script, ['--port', '0', '--preset', 'test']);
    const [, url] = await program.waitFor(/listening on (ws:\/\/127\.0\.0\.1:\d+)/);
    const alice = await open(`${url}/?user=alice`);
    const bob = await open(`${url}/?user=bob`);
    alice.send('hello');
    expect(await nextMessage(alice)).toBe('hello');

    const http = url?.replace('ws:', 'http:');
    const stats = (await (await fetch(`${http}/stats`)).json()) as SupervisorStats;
    expect(stats).toMatchObject({ connections: 2, users: 2, counters: { admitted: 2 } });
    expect(stats).not.toHaveProperty('perUser');
    const detail = (await (await fetch(`${http}/stats?perUser=1`)).json()) as PerUserStats;
    expect(detail.perUser.map((book) => book.userId)).toEqual(['alice', 'bob']);

    const closes = Promise.all([closed(alice), closed(bob)]);
    program.child.kill('SIGTERM');
    expect((await closes).map((c) => c.code)).toEqual([1001, 1001]);
    expect(await program.exited).toBe(0);
    expect(program.output()).toMatch(/SIGTERM: draining 2 connection\(s\)/);
  });

  it('survives request targets that new URL() cannot parse', async () => {
    const program = runProgram(script, ['--port', '0']);
    const [, port] = await program.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/);
    const upgrade = (target: string) =>
      `GET ${target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${Buffer.alloc(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    for (const [request, status] of [
      ['GET //[ HTTP/1.1\r\nHost: x\r\n\r\n', 404],
      [upgrade('//['), 401],
      [upgrade('//[?user=a'), 101],
    ] as const) {
      const socket = connectTcp(Number(port), '127.0.0.1');
      socket.end(request);
      const [reply] = (await once(socket, 'data')) as [Buffer];
      expect(reply.toString()).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      socket.destroy();
    }
    const ws = await open(`ws://127.0.0.1:${port}/?user=after`);
    ws.close();
    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
  });

  it('takes limits from flags and from the environment, flags first', async () => {
    const program = runProgram(script, ['--port', '0', '--max-per-user', '2'], { WSSUP_MAX_PER_USER: '1' });
    const [, url] = await program.waitFor(/listening on (ws:\/\/\S+)/);
    const first = await open(`${url}/?user=carol`);
    const second = await open(`${url}/?user=carol`);
    expect(await connectRefused(`${url}/?user=carol`)).toBe(429);
    first.terminate();
    second.terminate();
    program.child.kill('SIGINT');
    expect(await program.exited).toBe(0);

    const fromEnv = runProgram(script, ['--port', '0'], { WSSUP_MAX_PER_USER: '1', PORT: '1' });
    const [, envUrl] = await fromEnv.waitFor(/listening on (ws:\/\/\S+)/);
    const only = await open(`${envUrl}/?user=dave`);
    expect(await connectRefused(`${envUrl}/?user=dave`)).toBe(429);
    only.terminate();
    fromEnv.child.kill('SIGTERM');
    expect(await fromEnv.exited).toBe(0);
  });

  it.each([
    [['--max-per-user', '0'], /--max-per-user: expected an integer from 1 to 100000, got 0/],
    [['--eviction-threshold', 'lots'], /--eviction-threshold must be a number/],
    [['--no-such-flag'], /Unknown option '--no-such-flag'/],
    [['--port', '70000'], /cannot listen/],
  ])('refuses %j with a clear message and exit code 2', async (args, message) => {
    const program = runProgram(script, args);
    expect(await program.exited).toBe(2);
    expect(program.output()).toMatch(message);
  });

  it('runs as `ws-supervisor serve`', async () => {
    const version = runProgram('dist/src/cli.js', ['--version']);
    expect(await version.exited).toBe(0);
    expect(version.output().trim()).toMatch(/^\d+\.\d+\.\d+/);

    const program = runProgram('dist/src/cli.js', ['serve', '--port', '0']);
    await program.waitFor(/listening on ws:\/\/127\.0\.0\.1:\d+/);
    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
  });
});

describe('existing HTTP server example', () => {
  it('supervises /chat only, authenticates by bearer token, and drains on SIGTERM', async () => {
    const program = runProgram('dist/examples/existing-http-server.js', ['--port', '0']);
    const [, url] = await program.waitFor(/listening on (ws:\/\/\S+)\/chat/);
    const ws = new WebSocket(`${url}/chat`, { headers: { authorization: 'Bearer erin' } });
    const hello = nextMessage(ws); // listen first: the greeting may arrive with the handshake
    await once(ws, 'open');
    expect(JSON.parse(await hello)).toMatchObject({ hello: 'erin' });
    ws.send('hi');
    expect(JSON.parse(await nextMessage(ws))).toEqual({ from: 'erin', text: 'hi' });
    expect(await connectRefused(`${url}/elsewhere`)).toBe(404);
    expect(await connectRefused(`${url}/chat`)).toBe(401);

    const closing = closed(ws);
    program.child.kill('SIGTERM');
    expect((await closing).code).toBe(1001);
    expect(await program.exited).toBe(0);
  });
});
