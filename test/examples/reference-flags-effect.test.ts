/**
 * The reference server's flags for admissionRate, maxPayloadBytes, maxBufferedBytes, activity,
 * lingerMs, retryAfterMs and heartbeatMessage take effect on the running server (`npm start`'s
 * built program, real clients over loopback): what a client sees changes with them, the
 * environment variable gives the same, and the flag wins over it. (The cluster's
 * --command-timeout-ms and --key-prefix: test/cluster/reference-cluster-flags.test.ts.)
 */
import { once } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { SupervisorStats } from '../../src/index.js';
import { type RunningProgram, runProgram } from '../helpers/process.js';
import { httpRefusal } from '../helpers/refusals.js';
import { closed, connect, connectRefused, ioWait, nextMessage } from '../helpers/server.js';

const script = 'dist/examples/reference-server/main.js';

interface Running {
  program: RunningProgram;
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
    url: (user) => `${base}/?user=${encodeURIComponent(user)}`,
    stats: async () => (await (await fetch(`${http}/stats`)).json()) as SupervisorStats,
  };
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
    expect(await settingsLine(server)).toMatch(/admission rate 0\.001\/s \(burst 2\)$/);
  });

  it('reads WSSUP_ADMISSION_RATE, and the flag wins over it', async () => {
    const fromEnv = await start([], { WSSUP_ADMISSION_RATE: '0.001/1' });
    await connect(fromEnv.url('cid'));
    expect(await connectRefused(fromEnv.url('cid'))).toBe(429);

    const both = await start(['--admission-rate', '0.001/3'], { WSSUP_ADMISSION_RATE: '0.001/1' });
    for (let i = 0; i < 3; i++) await connect(both.url('cid'));
    expect(await connectRefused(both.url('cid'))).toBe(429);
  });

  it('takes a rate alone, with a burst of a second of it', async () => {
    const server = await start(['--admission-rate', '0.001']);
    await connect(server.url('dan'));
    expect(await connectRefused(server.url('dan'))).toBe(429);
    expect(await settingsLine(server)).toMatch(/admission rate 0\.001\/s \(burst 1\)$/);
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

  it('reads WSSUP_MAX_PAYLOAD_BYTES, and the flag wins over it', async () => {
    const fromEnv = await start([], { WSSUP_MAX_PAYLOAD_BYTES: '16' });
    const small = await connect(fromEnv.url('fay'));
    const closing = closed(small);
    small.send('x'.repeat(17));
    expect((await closing).code).toBe(1009);

    const both = await start(['--max-payload-bytes', '32'], { WSSUP_MAX_PAYLOAD_BYTES: '16' });
    const ws = await connect(both.url('fay'));
    ws.send('x'.repeat(32));
    expect(await nextMessage(ws)).toBe('x'.repeat(32));
    const closingBoth = closed(ws);
    ws.send('x'.repeat(33));
    expect((await closingBoth).code).toBe(1009);
  });
});

/**
 * A client that stops reading while it sends: the echoes pile up in the server once the
 * kernel's buffers are full. 24 MiB is more than loopback's buffers hold here, and less than
 * the large limit below.
 */
async function echoWhilePaused(server: Running, user: string): Promise<WebSocket> {
  const ws = await connect(server.url(user));
  ws.pause();
  const chunk = Buffer.alloc(512 * 1024, 1);
  for (let i = 0; i < 48; i++) ws.send(chunk, { binary: true });
  return ws;
}

describe('--max-buffered-bytes', () => {
  it('closes a client that reads slower than it is sent to with 4008 past it', async () => {
    // A long drain, so that the client is still there to read the 4008 when it reads again.
    const server = await start(['--max-buffered-bytes', '65536', '--drain-timeout-ms', '60000']);
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
        if (echoed === 48 * 512 * 1024) resolve();
      }),
    );
    ws.resume();
    await all;
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect((await server.stats()).byState.draining).toBe(0);

    const fromEnv = await start(['--drain-timeout-ms', '60000'], { WSSUP_MAX_BUFFERED_BYTES: '65536' });
    const slow = await echoWhilePaused(fromEnv, 'hal');
    await vi.waitFor(async () => expect((await fromEnv.stats()).byState.draining).toBe(1), ioWait);
    const closing = closed(slow);
    slow.resume();
    expect((await closing).code).toBe(4008);
  });
});

describe('--retry-after-ms', () => {
  it('sets the Retry-After of a refusal at the limit (WSSUP_RETRY_AFTER_MS, the flag winning)', async () => {
    const server = await start(['--max-per-user', '1', '--retry-after-ms', '7000']);
    await connect(server.url('ivy'));
    const refused = await httpRefusal(server.url('ivy'));
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('7');

    const fromEnv = await start(['--max-per-user', '1'], { WSSUP_RETRY_AFTER_MS: '9000' });
    await connect(fromEnv.url('ivy'));
    expect((await httpRefusal(fromEnv.url('ivy'))).headers['retry-after']).toBe('9');

    const both = await start(['--max-per-user', '1', '--retry-after-ms', '2000'], {
      WSSUP_RETRY_AFTER_MS: '9000',
    });
    await connect(both.url('ivy'));
    expect((await httpRefusal(both.url('ivy'))).headers['retry-after']).toBe('2');
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
    // The test preset lingers 0 ms: without the flag, nothing is left.
    expect(await lingeringAfterClose(await start(['--preset', 'test']), 'jon')).toBe(0);
    expect(await lingeringAfterClose(await start(['--preset', 'test', '--linger-ms', '600000']), 'jon')).toBe(
      1,
    );
    const fromEnv = await start(['--preset', 'test'], { WSSUP_LINGER_MS: '600000' });
    expect(await lingeringAfterClose(fromEnv, 'jon')).toBe(1);
    const both = await start(['--preset', 'test', '--linger-ms', '0'], { WSSUP_LINGER_MS: '600000' });
    expect(await lingeringAfterClose(both, 'jon')).toBe(0);
  });
});

describe('--heartbeat-message', () => {
  it('is sent with every ping (WSSUP_HEARTBEAT_MESSAGE, the flag winning)', async () => {
    const fast = ['--heartbeat-ms', '200'];
    const server = await start([...fast, '--heartbeat-message', 'hb']);
    expect(await nextMessage(await connect(server.url('kim')))).toBe('hb');

    const fromEnv = await start(fast, { WSSUP_HEARTBEAT_MESSAGE: 'from-env' });
    expect(await nextMessage(await connect(fromEnv.url('kim')))).toBe('from-env');

    const both = await start([...fast, '--heartbeat-message', 'from-flag'], {
      WSSUP_HEARTBEAT_MESSAGE: 'from-env',
    });
    expect(await nextMessage(await connect(both.url('kim')))).toBe('from-flag');
  });
});

describe('--activity', () => {
  // The echo server sends only in answer to the client, so `both` and `inbound` idle a
  // connection alike here: what a user can check is the mode the server says is in force.
  it('is in force as given (WSSUP_ACTIVITY, the flag winning), both by default', async () => {
    expect(await settingsLine(await start([]))).toMatch(/activity both,/);
    expect(await settingsLine(await start(['--activity', 'inbound']))).toMatch(/activity inbound,/);
    expect(await settingsLine(await start([], { WSSUP_ACTIVITY: 'inbound' }))).toMatch(/activity inbound,/);
    expect(await settingsLine(await start(['--activity', 'both'], { WSSUP_ACTIVITY: 'inbound' }))).toMatch(
      /activity both,/,
    );
  });
});

describe('the settings line', () => {
  it('says what the flags and variables set, and the preset for the rest', async () => {
    const server = await start(['--preset', 'test', '--max-payload-bytes', '1000'], {
      WSSUP_MAX_BUFFERED_BYTES: '2000',
      WSSUP_LINGER_MS: '3000',
    });
    expect(await settingsLine(server)).toBe(
      'messages up to 1000 bytes, send buffer up to 2000 bytes, activity both, linger 3000 ms, admission rate unlimited',
    );
    const defaults = await start(['--preset', 'test']);
    expect(await settingsLine(defaults)).toBe(
      'messages up to 65536 bytes, send buffer up to 1048576 bytes, activity both, linger 0 ms, admission rate unlimited',
    );
  });
});
