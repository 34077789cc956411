/**
 * A private redis-server per test file (issue 12): started on a free loopback
 * port with no persistence (`--save '' --appendonly no`) and a temp `--dir`,
 * so tests never collide with each other or with a Redis on 6379, and stopped
 * (SIGKILL, temp dir removed) at the end. The outage helpers stop, resume,
 * kill and restart that one process, on the same port, as a real outage would.
 *
 * Without the binary, the tests that need it are skipped loudly, or fail
 * under WSSUP_REQUIRE_EXTERNAL=1 (CI):
 *
 * ```ts
 * const hasRedis = requireExternal('redis-server', findRedisServer() !== undefined, redisServerHint());
 * describe.runIf(hasRedis)('...', () => {
 *   let redis: PrivateRedis;
 *   beforeAll(async () => { redis = await startRedisServer(); });
 *   afterAll(() => redis.stop());
 * });
 * ```
 *
 * Control commands (`command()`) go over a raw RESP connection of their own, so
 * this helper does not depend on the client library under test.
 *
 * With `{ tls: true }` it listens on TLS only (`--port 0 --tls-port`), with the
 * test certificates of test/fixtures/tls (`testTls`): `url` is `rediss://…`, and
 * `command()` goes over TLS too, trusting the test CA, so nothing reaches it in
 * clear text.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { skewedClockEnv } from './faketime.js';

/** The redis-server to run: REDIS_SERVER_PATH if set, else the first one on PATH. */
export function findRedisServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const chosen = env.REDIS_SERVER_PATH;
  if (chosen !== undefined && chosen !== '') return isExecutable(chosen) ? chosen : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'redis-server');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** How to get redis-server, for requireExternal's message. */
export function redisServerHint(): string {
  return [
    'The cluster-mode tests start a private redis-server (Redis 7 or Valkey 7+) on a free port.',
    'Install it (Debian/Ubuntu, as root: apt-get install -y --no-install-recommends redis-server),',
    'or point REDIS_SERVER_PATH at a redis-server executable. The shared Redis on 6379 is never used.',
  ].join('\n');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The test certificates (test/fixtures/tls/README.md): a CA, and a server certificate it
 * signed for 127.0.0.1 and localhost. For tests only: the key is public.
 */
export const testTls = (() => {
  const dir = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
  return {
    /** Paths of the files, for redis-server's --tls-* options and NODE_EXTRA_CA_CERTS. */
    caFile: join(dir, 'ca.crt'),
    certFile: join(dir, 'server.crt'),
    keyFile: join(dir, 'server.key'),
    /** The CA certificate (PEM), for a client's `socket.ca`. */
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
  };
})();

export interface PrivateRedis {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`, or `rediss://…` with `tls: true` */
  readonly url: string;
  /** The pid of the running redis-server (changes on restart). */
  readonly pid: number;
  /** Runs one command on a fresh connection; resolves with the decoded reply. */
  command(...args: string[]): Promise<RespValue>;
  /**
   * SIGSTOP: the process keeps its port and sockets but answers nothing.
   * Resolves once the process is stopped (a signal takes effect
   * asynchronously: until then it may still run, or answer, a command).
   */
  pause(): Promise<void>;
  /** SIGCONT after pause(). */
  resume(): void;
  /** SIGKILL, waiting until it has exited: the port refuses connections and the data is gone. */
  kill(): Promise<void>;
  /** Starts redis-server again on the same port (after kill()), empty, and waits until it answers. */
  restart(): Promise<void>;
  /** Kills it (if running) and removes its temp dir. Safe to repeat. */
  stop(): Promise<void>;
}

export type RespValue = string | number | null | RespValue[] | Error;

export interface RedisServerOptions {
  /**
   * How far its wall clock is from the real one, in libfaketime's syntax ('+30s', '-1h'):
   * faketime.ts (guard with requireExternal('libfaketime', …) too). Kept across restart().
   */
  readonly clockOffset?: string;
  /** TLS only on `port`, with the test certificates (`testTls`; clients are not asked for one). */
  readonly tls?: boolean;
}

/**
 * Starts a private redis-server and waits until it answers PING.
 * @throws when redis-server (or, for a clockOffset, libfaketime) is missing
 * (guard with requireExternal first) or it does not start.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<PrivateRedis> {
  const binary = findRedisServer();
  if (binary === undefined) throw new Error(`redis-server was not found.\n${redisServerHint()}`);
  const env = options.clockOffset === undefined ? undefined : skewedClockEnv(options.clockOffset);
  const dir = mkdtempSync(join(tmpdir(), 'wssup-redis-'));
  const tls = options.tls === true;
  let launched: { port: number; child: ChildProcess };
  try {
    launched = await launchOnFreePort((port) => launch(binary, port, dir, [], env, tls));
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const { port } = launched;
  let current: ChildProcess = launched.child;
  // If the test worker dies without stop(), do not leave a redis-server behind.
  const killOnExit = () => current.kill('SIGKILL');
  process.on('exit', killOnExit);
  let stopped = false;

  const kill = async () => {
    if (current.exitCode !== null || current.signalCode !== null) return;
    const exited = once(current, 'exit');
    current.kill('SIGKILL'); // also ends a SIGSTOPped process
    await exited;
  };

  return {
    port,
    url: `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    get pid() {
      return current.pid as number;
    },
    command: (...args) => respCommand(port, args, tls),
    async pause() {
      current.kill('SIGSTOP');
      await untilStopped(current.pid as number);
    },
    resume: () => void current.kill('SIGCONT'),
    kill,
    async restart() {
      if (stopped) throw new Error('restart() after stop()');
      await kill();
      current = await launch(binary, port, dir, [], env, tls);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
      process.off('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Resolves once the process is in the stopped state ('T': processState()).
 * Where neither /proc nor ps can tell, after a short wait.
 */
async function untilStopped(pid: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const state = await processState(pid);
    if (state === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 50)); // nothing to ask: give the signal a moment
      return;
    }
    if (state === 'T') return;
    if (Date.now() > deadline) throw new Error(`redis-server ${pid} did not stop (state ${state})`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * The state letter of a process ('T' once a SIGSTOP took effect, 'S' or 'R' when it runs):
 * from /proc/<pid>/stat on Linux; where there is no /proc (macOS), from `ps -o stat= -p <pid>`.
 * Undefined when neither can tell (no such process, or no ps).
 */
export async function processState(
  pid: number,
  procfs: boolean = existsSync('/proc/self/stat'),
): Promise<string | undefined> {
  if (procfs) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.charAt(stat.lastIndexOf(')') + 2);
    } catch {
      return undefined;
    }
  }
  return new Promise((resolve) => {
    execFile('ps', ['-o', 'stat=', '-p', String(pid)], (error, stdout) => {
      const state = stdout.trim().charAt(0);
      resolve(error === null && state !== '' ? state : undefined);
    });
  });
}

/** redis-server's arguments to listen on `port` with TLS only, with the test certificates. */
export const tlsArgs = (port: number): string[] => [
  '--port',
  '0',
  '--tls-port',
  String(port),
  '--tls-cert-file',
  testTls.certFile,
  '--tls-key-file',
  testTls.keyFile,
  '--tls-ca-cert-file',
  testTls.caFile,
  '--tls-auth-clients',
  'no',
];

/**
 * Spawns redis-server on `port` and resolves once it answers PING; rejects if it exits first.
 * `extra` arguments go after the defaults (redis-cluster.ts adds the cluster ones);
 * `env` replaces the environment (a skewed clock: faketime.ts); `tls` makes `port` a TLS
 * port and the only one (tlsArgs).
 */
export async function launch(
  binary: string,
  port: number,
  dir: string,
  extra: readonly string[] = [],
  env?: NodeJS.ProcessEnv,
  tls = false,
): Promise<ChildProcess> {
  const child = spawn(
    binary,
    [
      ...(tls ? tlsArgs(port) : ['--port', String(port)]),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], ...(env === undefined ? {} : { env }) },
  );
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`redis-server exited (${code ?? signal}) before answering on port ${port}:\n${output}`);
  });
  exited.catch(() => {}); // observed below; once it answered, a later exit is the test's business
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answered = await Promise.race([
      respCommand(port, ['PING'], tls).then(
        (reply) => reply === 'PONG',
        () => false,
      ),
      exited,
    ]);
    if (answered) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not answer on port ${port} within 10 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Launches on a port `pick` found free; a few tries, as a free port can be taken between the
 * probe and the server's bind.
 */
export async function launchOnFreePort(
  start: (port: number) => Promise<ChildProcess>,
  pick: () => Promise<number> = freePort,
): Promise<{ port: number; child: ChildProcess }> {
  for (let attempt = 0; ; attempt++) {
    const port = await pick();
    try {
      return { port, child: await start(port) };
    } catch (error) {
      if (attempt >= 4) throw error;
    }
  }
}

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/**
 * Sends one RESP command on a new connection (over TLS, trusting the test CA, with `tls`)
 * and resolves with the decoded reply (2 s at most).
 */
export function respCommand(port: number, args: string[], tls = false): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const socket = tls
      ? tlsConnect({ port, host: '127.0.0.1', ca: testTls.ca })
      : tcpConnect({ port, host: '127.0.0.1' });
    let bytes = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`no reply to ${args[0]} within 2 s`)), 2_000);
    const finish = (error: Error | undefined, value?: RespValue) => {
      clearTimeout(timer);
      socket.destroy();
      if (error === undefined) resolve(value as RespValue);
      else reject(error);
    };
    socket.on('error', (error) => finish(error));
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      const parsed = parseResp(bytes, 0);
      if (parsed !== undefined) finish(undefined, parsed.value);
    });
    const parts = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
    socket.write(`*${args.length}\r\n${parts.join('')}`);
  });
}

/** Decodes one RESP2 value at `offset`, or undefined while it is incomplete. */
function parseResp(bytes: Buffer, offset: number): { value: RespValue; end: number } | undefined {
  const lineEnd = bytes.indexOf('\r\n', offset);
  if (lineEnd === -1) return undefined;
  const type = String.fromCharCode(bytes[offset] as number);
  const line = bytes.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new Error(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, end: next };
      if (bytes.length < next + length + 2) return undefined;
      return { value: bytes.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let end = next;
      for (let i = 0; i < count; i++) {
        const item = parseResp(bytes, end);
        if (item === undefined) return undefined;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`unexpected RESP type ${JSON.stringify(type)}`);
  }
}
