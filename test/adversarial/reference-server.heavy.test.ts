/**
 * The reference server as its own process under abuse, heavy (npm run
 * test:adversarial only; run `npm run build` first, which that script does):
 *
 * - fd exhaustion: started with `ulimit -n 128`, it is sent more connections
 *   than it can hold. Those beyond the limit are dropped by the kernel and
 *   libuv before any HTTP is read (never admitted); the process keeps running,
 *   the connections it holds keep working, and once clients leave it admits
 *   again, with nothing left behind.
 * - slowloris at scale: 1,000 upgrade requests that never finish hold nothing
 *   of the supervisor's while real clients are served; 300 clients that stall
 *   in the middle of a frame are all ended by the heartbeat.
 */
import { get } from 'node:http';
import type { Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import type { SupervisorStats } from '../../src/index.js';
import {
  type Attempt,
  attempt,
  frameHeader,
  inBatches,
  Opcode,
  openFileLimit,
  until,
  within,
} from '../helpers/adversary.js';
import { rawConnect, rawWebSocket, upgradeRequest } from '../helpers/cleanup.js';
import { type RunningProgram, runCommand, runProgram } from '../helpers/process.js';
import { touch } from '../helpers/rules.js';

const script = 'dist/examples/reference-server/main.js';
/** Nothing idles or needs a pong unless a test says so. */
const quiet = ['--port', '0', '--preset', 'test', '--max-per-user', '100000', '--idle-timeout-ms', '600000'];

interface Started {
  program: RunningProgram;
  port: number;
  url: string;
}

async function started(program: RunningProgram): Promise<Started> {
  const [, url = '', port = ''] = await within(
    program.waitFor(/listening on (ws:\/\/127\.0\.0\.1:(\d+))/),
    30_000,
    'the reference server to start',
    () => program.output(),
  );
  return { program, url, port: Number(port) };
}

/** GET /stats on a connection of its own. */
function stats(port: number): Promise<SupervisorStats> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path: '/stats', agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => resolve(JSON.parse(text) as SupervisorStats));
    });
    request.on('error', reject);
  });
}

/** Waits (polling /stats) until the process holds `connections`, then runs the leak check on what it says. */
async function expectServerLeakFree(port: number, timeoutMs = 10_000): Promise<SupervisorStats> {
  let last: SupervisorStats | undefined;
  await until(
    async () => {
      last = await stats(port).catch(() => undefined);
      return last?.connections === 0;
    },
    'the server to hold no connection',
    { timeoutMs, intervalMs: 50, detail: () => last },
  );
  const now = await stats(port);
  expect(now.resources).toEqual({
    connectionActors: 0,
    userSupervisors: 0,
    lingeringSupervisors: 0,
    pendingTimers: 0,
    socketListeners: 0,
    closeRefusals: 0,
    authenticating: 0,
    rooms: 0,
    roomMemberships: 0,
  });
  expect(now).toMatchObject({ connections: 0, users: 0 });
  expect(now.counters.disposed).toBe(now.counters.admitted);
  return now;
}

async function stop(program: RunningProgram): Promise<void> {
  program.child.kill('SIGTERM');
  const code = await within(program.exited, 15_000, 'the server to exit on SIGTERM', () => program.output());
  expect({ code, signal: program.child.signalCode }).toEqual({ code: 0, signal: null });
  expect(program.output()).not.toMatch(/error/i);
}

describe('the reference server process', () => {
  const fdLimit = 128;
  const clients = 300;

  it(`with ulimit -n ${fdLimit}, sent ${clients} connections: keeps serving, admits again once clients leave, leaks nothing`, async () => {
    // `ulimit -n` in sh, then exec node: prlimit(1) is not everywhere.
    const program = runCommand('/bin/sh', [
      '-c',
      `ulimit -n ${fdLimit} && exec "$0" "$@"`,
      process.execPath,
      script,
      ...quiet,
      '--heartbeat-ms',
      '600000',
    ]);
    const { url, port } = await started(program);

    const outcomes = await inBatches(
      Array.from({ length: clients }, (_, i) => `fd${i % 10}`),
      20,
      (user) => attempt(`${url}/?user=${user}`),
    );
    const opened = outcomes.flatMap((outcome: Attempt) => ('opened' in outcome ? [outcome.opened] : []));
    const failed = outcomes.filter((outcome) => 'error' in outcome);
    // The limit was reached, and nothing but the limit refused anyone.
    expect(failed.length).toBeGreaterThan(0);
    expect(opened.length + failed.length).toBe(clients);
    expect(opened.length).toBeGreaterThan(fdLimit / 2);

    // At the limit, the connections it holds still work.
    for (const ws of opened.slice(0, 10)) await within(touch(ws), 5_000, 'an echo at the fd limit');
    // Clients go away; it admits again, and its books balance.
    for (const ws of opened) ws.close();
    const after = await expectServerLeakFree(port);
    expect(after.counters.admitted).toBe(opened.length);
    const again = await within(attempt(`${url}/?user=again`), 5_000, 'a client after the exhaustion');
    if (!('opened' in again)) throw new Error(`refused after the exhaustion: ${JSON.stringify(again)}`);
    await touch(again.opened);
    again.opened.close();
    await expectServerLeakFree(port);
    await stop(program);
  });

  const lorises = 1_000;
  const stalled = 300;
  it.skipIf(openFileLimit() < lorises + stalled + 200)(
    `${lorises} unfinished upgrade requests and ${stalled} clients stalled mid-frame`,
    async () => {
      const heartbeatMs = 200;
      const { program, port, url } = await started(
        runProgram(script, [...quiet, '--heartbeat-ms', String(heartbeatMs)]),
      );

      // Slowloris: every header but the blank line that ends them.
      const partial = upgradeRequest('loris').slice(0, -2);
      const sockets: Socket[] = await inBatches(Array.from({ length: lorises }), 100, async () => {
        const socket = await rawConnect(port);
        socket.write(partial);
        return socket;
      });
      // Real clients are served meanwhile, and the unfinished requests hold nothing.
      const real = await Promise.all(
        Array.from({ length: 5 }, async (_, i) => {
          const ws = new WebSocket(`${url}/?user=real${i}`);
          onTestFinished(() => ws.terminate());
          await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
          await touch(ws);
          return ws;
        }),
      );
      expect(await stats(port)).toMatchObject({ connections: 5, counters: { admitted: 5 } });

      // Clients that complete the handshake and stall in the middle of a frame: ended by the heartbeat.
      const stallers = await inBatches(Array.from({ length: stalled }), 50, async () => {
        const socket = await rawWebSocket(port, 'staller');
        socket.write(Buffer.concat([frameHeader(Opcode.binary, 1_024), Buffer.alloc(10)]));
        return socket;
      });
      expect(stallers).toHaveLength(stalled);
      let last: SupervisorStats | undefined;
      await until(
        async () => {
          last = await stats(port);
          return last.connections === 5 && last.counters.disposed === stalled;
        },
        'every stalled client to be ended by the heartbeat',
        { timeoutMs: 30_000, intervalMs: 100, detail: () => last },
      );
      for (const ws of real) expect(ws.readyState).toBe(WebSocket.OPEN);

      for (const socket of sockets) socket.destroy();
      for (const ws of real) ws.close();
      await expectServerLeakFree(port);
      await stop(program);
    },
  );
});
