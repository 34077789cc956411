/**
 * The reference server's flags for admissionRate, maxPayloadBytes, maxBufferedBytes, activity,
 * lingerMs, retryAfterMs, heartbeatMessage, maxCloseRefusals, closeRefusalTimeoutMs,
 * capacityLevels and capacityHysteresis take effect on the running server (`npm start`'s
 * built program, real clients over loopback): what a client sees changes with them, the
 * environment variable gives the same, and the flag wins over it (readConfig's, which main()
 * starts the server with: checked in this process, see variableReadsAsFlag). (The cluster's
 * --command-timeout-ms, --key-prefix and --reaper-interval-ms:
 * test/cluster/reference-cluster-flags.test.ts.)
 */
import { once } from 'node:events';
import { get, type IncomingMessage } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { readConfig } from '../../examples/reference-server/config.js';
import type { Activity } from '../../src/dashboard/activity.js';
import type { SupervisorStats } from '../../src/index.js';
import { type RunningProgram, runProgram } from '../helpers/process.js';
import { httpRefusal } from '../helpers/refusals.js';
import { closed, connect, connectRefused, ioWait, nextMessage } from '../helpers/server.js';

const script = 'dist/examples/reference-server/main.js';

interface Running {
  program: RunningProgram;
  port: number;
  /** ws://127.0.0.1:<port>/?user=<user> */
  url(user: string): string;
  stats(): Promise<SupervisorStats>;
}

async function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Running> {
  const program = runProgram(script, ['--port', '0', ...args], env);
  const [, base] = (await program.waitFor(/listening on (ws:\/\/\S+)/)) as RegExpMatchArray;
  const http = (base as string).replace('ws://', 'http://');
  return {
    program,
    port: Number(new URL(http).port),
    url: (user) => `${base}/?user=${encodeURIComponent(user)}`,
    stats: async () => (await (await fetch(`${http}/stats`)).json()) as SupervisorStats,
  };
}

/**
 * The environment variable of `flag` gives what the flag gives, and the flag wins over it: read by
 * readConfig in this process, whose config main() starts the server with (and reference-command-
 * line.test.ts runs a program on a variable). What the flag does to the running server is each
 * test's own; a server per variable, and one per flag over its variable, was most of this file's
 * time. `value` and `other` must set different things (checked).
 */
function variableReadsAsFlag(
  flag: string,
  variable: string,
  value: string,
  other: string,
  base: string[] = [],
) {
  const config = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
    readConfig(['--port', '0', ...base, ...argv], env);
  expect(config([flag, value])).not.toEqual(config([flag, other]));
  expect(config([], { [variable]: value })).toEqual(config([flag, value]));
  expect(config([flag, other], { [variable]: value })).toEqual(config([flag, other]));
}

/** The line that says what the newer flags set, as in force. */
const settingsLine = async (server: Running) =>
  (await server.program.waitFor(/^messages up to .*$/m))[0] as string;

describe('--admission-rate <perSecond>[/<burst>]', () => {
  // 0.001 a second: no token comes back within a test, so the burst is all a user gets.
  it('admits a burst of quick connections per user, then refuses with 429', async () => {
    const server = await start(['--admission-rate', '0.001/2']);
    await connect(server.url('ann'));
    await connect(server.url('ann'));
    const refused = await httpRefusal(server.url('ann'));
    expect(refused.status).toBe(429);
    // Until the next token, at 0.001 a second: 1000 s.
    expect(refused.headers['retry-after']).toBe('1000');
    // Per user: another one has a bucket of its own.
    await connect(server.url('bea'));
    expect(await settingsLine(server)).toMatch(/admission rate 0\.001\/s \(burst 2\),/);
  });

  it('reads WSSUP_ADMISSION_RATE, and the flag wins over it', () => {
    variableReadsAsFlag('--admission-rate', 'WSSUP_ADMISSION_RATE', '0.001/1', '0.001/3');
  });

  it('takes a rate alone, with a burst of a second of it', async () => {
    const server = await start(['--admission-rate', '0.001']);
    await connect(server.url('dan'));
    expect(await connectRefused(server.url('dan'))).toBe(429);
    expect(await settingsLine(server)).toMatch(/admission rate 0\.001\/s \(burst 1\),/);
  });
});

describe('--message-rate <perSecond>[/<burst>]', () => {
  // 0.001 a second: no token comes back within a test, so the burst is all a connection gets.
  it('closes a connection that sends more than its burst with 4009', async () => {
    const server = await start(['--message-rate', '0.001/2']);
    const ws = await connect(server.url('fay'));
    const closing = closed(ws);
    for (const message of ['1', '2', '3']) ws.send(message);
    expect(await closing).toEqual({ code: 4009, reason: 'message rate exceeded' });
    expect(await settingsLine(server)).toMatch(/message rate 0\.001\/s \(burst 2\),/);
  });

  it('reads WSSUP_MESSAGE_RATE, and the flag wins over it', () => {
    variableReadsAsFlag('--message-rate', 'WSSUP_MESSAGE_RATE', '0.001/1', '0.001/3');
  });
});

describe('--max-payload-bytes', () => {
  it('closes a connection whose message is larger with 1009, and echoes one that fits', async () => {
    const server = await start(['--max-payload-bytes', '16']);
    const ws = await connect(server.url('eve'));
    ws.send('x'.repeat(16));
    expect(await nextMessage(ws)).toBe('x'.repeat(16));
    const closing = closed(ws);
    ws.send('x'.repeat(17));
    expect((await closing).code).toBe(1009);
  });

  it('reads WSSUP_MAX_PAYLOAD_BYTES, and the flag wins over it', () => {
    variableReadsAsFlag('--max-payload-bytes', 'WSSUP_MAX_PAYLOAD_BYTES', '16', '32');
  });
});

/**
 * A client that stops reading while it sends: the echoes pile up in the server once the
 * kernel's buffers are full. 24 MiB is more than loopback's buffers hold here, and less than
 * the large limit below.
 */
const echoChunk = 32 * 1024;
/**
 * With --max-buffered-bytes 65536: the server refuses to start when the echo of a message of
 * --max-payload-bytes (the preset's 1 MiB) cannot fit in it (reference-flags.test.ts).
 */
const echoPayload = ['--max-payload-bytes', String(echoChunk)];
const echoChunks = 768;

async function echoWhilePaused(server: Running, user: string): Promise<WebSocket> {
  const ws = await connect(server.url(user));
  ws.pause();
  const chunk = Buffer.alloc(echoChunk, 1);
  for (let i = 0; i < echoChunks; i++) ws.send(chunk, { binary: true });
  return ws;
}

// A hang guard, not a speed check (as below): 24 MiB echoed on a 2-core machine loaded by other work.
describe('--max-buffered-bytes', { timeout: 60_000 }, () => {
  it('closes a client that reads slower than it is sent to with 4008 past it', async () => {
    // A long drain, so that the client is still there to read the 4008 when it reads again.
    const server = await start([
      '--max-buffered-bytes',
      '65536',
      '--drain-timeout-ms',
      '60000',
      ...echoPayload,
    ]);
    const ws = await echoWhilePaused(server, 'gus');
    await vi.waitFor(async () => expect((await server.stats()).byState.draining).toBe(1), ioWait);
    const closing = closed(ws);
    ws.resume();
    expect(await closing).toEqual({ code: 4008, reason: 'slow consumer' });
  });

  it('keeps one whose backlog stays under it (WSSUP_MAX_BUFFERED_BYTES, the flag winning)', async () => {
    const server = await start(['--max-buffered-bytes', String(256 * 1024 * 1024)], {
      WSSUP_MAX_BUFFERED_BYTES: '65536',
    });
    const ws = await echoWhilePaused(server, 'hal');
    let echoed = 0;
    const all = new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer) => {
        echoed += data.length;
        if (echoed === echoChunks * echoChunk) resolve();
      }),
    );
    ws.resume();
    await all;
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect((await server.stats()).byState.draining).toBe(0);
    // The variable alone closes a slow reader as its flag does (the test above).
    variableReadsAsFlag(
      '--max-buffered-bytes',
      'WSSUP_MAX_BUFFERED_BYTES',
      '65536',
      String(256 * 1024 * 1024),
      echoPayload,
    );
  });
});

describe('--retry-after-ms', () => {
  it('sets the Retry-After of a refusal at the limit (WSSUP_RETRY_AFTER_MS, the flag winning)', async () => {
    // The flag over its variable: 2 s, not the variable's 9 s (nor the default 5 s).
    const server = await start(['--max-per-user', '1', '--retry-after-ms', '2000'], {
      WSSUP_RETRY_AFTER_MS: '9000',
    });
    await connect(server.url('ivy'));
    const refused = await httpRefusal(server.url('ivy'));
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('2');
    variableReadsAsFlag('--retry-after-ms', 'WSSUP_RETRY_AFTER_MS', '9000', '7000', ['--max-per-user', '1']);
  });
});

describe('--linger-ms', () => {
  /** How many user supervisors are left once `user`'s only connection has closed. */
  async function lingeringAfterClose(server: Running, user: string): Promise<number> {
    const ws = await connect(server.url(user));
    ws.close();
    await once(ws, 'close');
    await vi.waitFor(async () => expect((await server.stats()).connections).toBe(0), ioWait);
    return (await server.stats()).resources.lingeringSupervisors;
  }

  it("keeps a user's supervisor after its last connection (WSSUP_LINGER_MS, the flag winning)", async () => {
    const [preset, flag] = await Promise.all([
      start(['--preset', 'test']),
      start(['--preset', 'test', '--linger-ms', '600000']),
    ]);
    // The test preset lingers 0 ms: without the flag, nothing is left.
    expect(await lingeringAfterClose(preset, 'jon')).toBe(0);
    expect(await lingeringAfterClose(flag, 'jon')).toBe(1);
    variableReadsAsFlag('--linger-ms', 'WSSUP_LINGER_MS', '600000', '0', ['--preset', 'test']);
  });
});

describe('--heartbeat-message', () => {
  it('is sent with every ping (WSSUP_HEARTBEAT_MESSAGE, the flag winning)', async () => {
    const fast = ['--heartbeat-ms', '200'];
    const server = await start([...fast, '--heartbeat-message', 'from-flag'], {
      WSSUP_HEARTBEAT_MESSAGE: 'from-env',
    });
    expect(await nextMessage(await connect(server.url('kim')))).toBe('from-flag');
    variableReadsAsFlag('--heartbeat-message', 'WSSUP_HEARTBEAT_MESSAGE', 'from-env', 'hb', fast);
  });
});

describe('--activity', () => {
  // The echo server sends only in answer to the client, so `both` and `inbound` idle a
  // connection alike here: what a user can check is the mode the server says is in force.
  it('is in force as given (WSSUP_ACTIVITY, the flag winning), both by default', async () => {
    const [byDefault, flag] = await Promise.all([start([]), start(['--activity', 'inbound'])]);
    expect(await settingsLine(byDefault)).toMatch(/activity both,/);
    expect(await settingsLine(flag)).toMatch(/activity inbound,/);
    variableReadsAsFlag('--activity', 'WSSUP_ACTIVITY', 'inbound', 'both');
  });
});

describe('the settings line', () => {
  it('says what the flags and variables set, and the preset for the rest', async () => {
    const [server, defaults] = await Promise.all([
      start(['--preset', 'test', '--max-payload-bytes', '1000'], {
        WSSUP_MAX_BUFFERED_BYTES: '2000',
        WSSUP_LINGER_MS: '3000',
      }),
      start(['--preset', 'test']),
    ]);
    expect(await settingsLine(server)).toBe(
      'messages up to 1000 bytes, send buffer up to 2000 bytes, activity both, linger 3000 ms, admission rate unlimited, message rate unlimited, refusals over HTTP',
    );
    expect(await settingsLine(defaults)).toBe(
      'messages up to 65536 bytes, send buffer up to 1048576 bytes, activity both, linger 0 ms, admission rate unlimited, message rate unlimited, refusals over HTTP',
    );
  });
});

describe('the limits line', () => {
  const limitsLine = async (server: Running) =>
    (await server.program.waitFor(/^connect timeout .*$/m))[0] as string;

  it('says every other setting in force: flags, variables, then the defaults; a token only as set', async () => {
    const token = 'a-dashboard-token-of-32-characters';
    const [flags, fromEnv, defaults] = await Promise.all([
      start([
        '--preset',
        'test',
        '--max-connections',
        '50',
        '--allowed-origins',
        'https://a.example, https://b.example',
        '--connect-timeout-ms',
        '2000',
        '--retry-after-ms',
        '3000',
        '--capacity-levels',
        '0.5,0.9',
        '--capacity-hysteresis',
        '0.2',
        '--heartbeat-message',
        'hb',
      ]),
      start([], {
        WSSUP_MAX_CONNECTIONS: '7',
        WSSUP_CAPACITY_LEVELS: 'none',
        WSSUP_HEARTBEAT_MESSAGE: 'ping me',
        WSSUP_DASHBOARD_TOKEN: token,
      }),
      start(['--preset', 'test']),
    ]);
    expect(await limitsLine(flags)).toBe(
      'connect timeout 2000 ms, process-wide cap 50, allowed origins https://a.example,https://b.example, ' +
        'retry after 3000 ms, heartbeat message "hb", capacity alerts at 0.5,0.9 (hysteresis 0.2), dashboard open on loopback',
    );
    expect(await limitsLine(fromEnv)).toBe(
      'connect timeout 10000 ms, process-wide cap 7, allowed origins any (no Origin check), ' +
        'retry after 5000 ms (shutting-down 1000 ms), heartbeat message "ping me", capacity alerts off, dashboard behind a token',
    );
    expect(fromEnv.program.output()).not.toContain(token);
    expect(await limitsLine(defaults)).toBe(
      'connect timeout 2000 ms, process-wide cap none, allowed origins any (no Origin check), ' +
        'retry after 5000 ms (shutting-down 1000 ms), heartbeat message none, capacity alerts at 0.5,0.8,0.9 (hysteresis 0.1), ' +
        'dashboard open on loopback',
    );
  });
});

describe('--max-close-refusals', () => {
  it('with --refuse close, answers refusals beyond it over HTTP (WSSUP_MAX_CLOSE_REFUSALS, the flag winning)', async () => {
    const closeRefusals = ['--refuse', 'close', '--max-per-user', '1'];
    const none = await start([...closeRefusals, '--max-close-refusals', '0']);
    await connect(none.url('lou'));
    expect(await connectRefused(none.url('lou'))).toBe(429);
    // Above it (the default, 1000, here 5) a refusal is a close code: reference-command-line.test.ts.
    variableReadsAsFlag('--max-close-refusals', 'WSSUP_MAX_CLOSE_REFUSALS', '0', '5', closeRefusals);
  });
});

/**
 * A client refused with a close frame that never answers it: a raw TCP upgrade that reads
 * and sends nothing more. Resolves with the close code the server sent once the server has
 * cut the socket.
 */
async function silentRefusedClient(port: number, user: string): Promise<number> {
  const socket = connectTcp(port, '127.0.0.1');
  onTestFinished(() => void socket.destroy());
  socket.write(
    `GET /?user=${user} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${Buffer.alloc(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'close');
  const received = Buffer.concat(chunks);
  const frame = received.subarray(received.indexOf('\r\n\r\n') + 4);
  // A close frame: opcode 8, then its payload length, then the code (big-endian).
  expect(frame[0]).toBe(0x88);
  return frame.readUInt16BE(2);
}

describe('--close-refusal-timeout-ms', () => {
  it('cuts off a refused client that does not answer the close (WSSUP_CLOSE_REFUSAL_TIMEOUT_MS, the flag winning)', async () => {
    const closeRefusals = ['--refuse', 'close', '--max-per-user', '1'];
    const server = await start([...closeRefusals, '--close-refusal-timeout-ms', '100']);
    await connect(server.url('max'));
    expect(await silentRefusedClient(server.port, 'max')).toBe(4429);
    await vi.waitFor(async () => expect((await server.stats()).resources.closeRefusals).toBe(0), ioWait);
    expect(await settingsLine(server)).toMatch(
      /, refusals as close codes \(at most 1000 at once, cut off 100 ms after\)$/,
    );
    variableReadsAsFlag(
      '--close-refusal-timeout-ms',
      'WSSUP_CLOSE_REFUSAL_TIMEOUT_MS',
      '150',
      '200',
      closeRefusals,
    );
  });
});

/** GET /dashboard/events: `capacityUntil(user)` the capacity alerts of the stream until `user` is admitted. */
async function dashboardEvents(port: number) {
  const request = get({ host: '127.0.0.1', port, path: '/dashboard/events' });
  onTestFinished(() => void request.destroy());
  const [response] = (await once(request, 'response')) as [IncomingMessage];
  const activities: Activity[] = [];
  const waiting = new Set<() => void>();
  let buffer = '';
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!block.startsWith('event: activity\n')) continue;
      activities.push(JSON.parse(block.slice(block.indexOf('data: ') + 6)) as Activity);
      for (const wake of waiting) wake();
    }
  });
  return {
    /** The capacity alerts received before `user`'s admission (the mark that all before it came). */
    async capacityUntil(user: string) {
      const marked = () => activities.some((a) => a.kind === 'admitted' && a.userId === user);
      while (!marked()) await new Promise<void>((resolve) => waiting.add(resolve));
      const end = activities.findIndex((a) => a.kind === 'admitted' && a.userId === user);
      return activities
        .slice(0, end)
        .filter((a) => a.kind === 'capacity')
        .map(({ level, direction, live }) => ({ level, direction, live }));
    },
  };
}

// A hang guard, not a speed check: three servers side by side took more than the default 20 s on a
// 2-core machine loaded by other work.
describe('--capacity-levels and --capacity-hysteresis', { timeout: 60_000 }, () => {
  /** Opens `n` connections of one user, then closes `close` of them, and reads the alerts. */
  async function alerts(args: string[], env: NodeJS.ProcessEnv, n: number, close = 0) {
    const server = await start(args, env);
    const events = await dashboardEvents(server.port);
    const sockets: WebSocket[] = [];
    for (let i = 0; i < n; i++) sockets.push(await connect(server.url('ned')));
    for (const ws of sockets.slice(0, close)) {
      ws.close();
      await once(ws, 'close');
    }
    await vi.waitFor(async () => expect((await server.stats()).connections).toBe(n - close), ioWait);
    await connect(server.url('mark')); // every alert of ned's comes before this one's admission
    return events.capacityUntil('mark');
  }

  it('fire at the levels given (WSSUP_CAPACITY_LEVELS, the flag winning; none: no alert)', async () => {
    const limit = ['--max-per-user', '4'];
    // Three servers of their own, side by side.
    const [byDefault, flag, none] = await Promise.all([
      alerts(limit, {}, 4),
      alerts([...limit, '--capacity-levels', '0.75'], {}, 4),
      alerts([...limit, '--capacity-levels', 'none'], { WSSUP_CAPACITY_LEVELS: '1' }, 4),
    ]);
    // The default levels, 0.5, 0.8 and 0.9 of 4: at 2, then both of the others at 4.
    expect(byDefault.map((alert) => alert.level)).toEqual([0.5, 0.8, 0.9]);
    expect(flag).toEqual([{ level: 0.75, direction: 'up', live: 3 }]);
    expect(none).toEqual([]);
    variableReadsAsFlag('--capacity-levels', 'WSSUP_CAPACITY_LEVELS', '1', 'none', limit);
    variableReadsAsFlag('--capacity-levels', 'WSSUP_CAPACITY_LEVELS', '1', '0.75', limit);
  });

  it('fire down only that far below the level (WSSUP_CAPACITY_HYSTERESIS, the flag winning)', async () => {
    // A limit of 10 and the level 0.8: up at 8; down below 0.8 - hysteresis of 10.
    const args = ['--max-per-user', '10', '--capacity-levels', '0.8'];
    const down = <T extends { direction?: string | undefined }>(list: T[]) =>
      list.filter((a) => a.direction === 'down');
    // Three servers of their own, side by side.
    const [byDefault, flag, both] = await Promise.all([
      alerts(args, {}, 8, 2),
      alerts([...args, '--capacity-hysteresis', '0'], {}, 8, 1),
      alerts([...args, '--capacity-hysteresis', '0.1'], { WSSUP_CAPACITY_HYSTERESIS: '0' }, 8, 1),
    ]);
    // The default, 0.1: closing 2 of 8 leaves 6, below 7: down at 6.
    expect(down(byDefault)).toEqual([{ level: 0.8, direction: 'down', live: 6 }]);
    // 0: down as soon as it is below 8.
    expect(down(flag)).toEqual([{ level: 0.8, direction: 'down', live: 7 }]);
    // 0.1 by the flag over 0 in the variable: 7 is not below 7, no alert down.
    expect(down(both)).toEqual([]);
    variableReadsAsFlag('--capacity-hysteresis', 'WSSUP_CAPACITY_HYSTERESIS', '0', '0.1', args);
  });
});
