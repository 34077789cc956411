/**
 * The reference server as a user runs it: `npm start`, its flags and environment, the values it
 * refuses (exit 2 with a message), and `ws-supervisor serve`. Every other example's start, serve
 * and drain is in examples.test.ts. These run the built programs (npm test builds first), but for
 * the tables of refused values, read by the program's own main() in this process (mainInProcess):
 * each path of exit 2 is run as the program itself too.
 */
import { once } from 'node:events';
import { type AddressInfo, connect as connectTcp, createServer } from 'node:net';
import { format } from 'node:util';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import type { StartedAs } from '../../examples/reference-server/config.js';
import { main } from '../../examples/reference-server/main.js';
import type { PerUserStats } from '../../examples/reference-server/stats-route.js';
import type { SupervisorStats } from '../../src/index.js';
import { runCommand, runProgram } from '../helpers/process.js';
import { closed, connectRefused, nextMessage } from '../helpers/server.js';

async function open(url: string, options?: WebSocket.ClientOptions): Promise<WebSocket> {
  const ws = new WebSocket(url, options);
  await once(ws, 'open');
  return ws;
}

/**
 * The CLI in a real node:cluster worker, as pm2's cluster mode runs it: `args` are the worker's
 * argv after the script, `env` its environment; the primary exits with the worker's code.
 */
function inClusterWorker(args: string[], env: NodeJS.ProcessEnv) {
  const primary = [
    "import cluster from 'node:cluster';",
    `cluster.setupPrimary({ execArgv: [], exec: 'dist/src/cli.js', args: ${JSON.stringify(args)} });`,
    `const worker = cluster.fork(${JSON.stringify(env)});`,
    "worker.on('exit', (code) => { process.exitCode = code ?? 1; });",
  ].join('\n');
  return runCommand(process.execPath, ['--input-type=module', '-e', primary]);
}

/**
 * main() run in this process, as the program runs it (`npm start`; `ws-supervisor serve` is
 * src/cli.ts handing it its arguments and 'ws-supervisor serve'): its exit code, what it printed
 * on stderr, and all it printed. The tables of refused values are read this way, one case after
 * another (console is replaced meanwhile): a node process each was most of this file's time. Each
 * path that exits 2 is also run as the program itself: an error in the flags (`npm start` and
 * `serve`), a value the supervisor refuses, a port in use. A thrown error (a stack trace) fails
 * the case.
 */
async function mainInProcess(argv: string[], env: NodeJS.ProcessEnv = {}, startedAs?: StartedAs) {
  let output = '';
  let errorOutput = '';
  const spies = [
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      output += `${format(...args)}\n`;
    }),
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      output += `${format(...args)}\n`;
      errorOutput += `${format(...args)}\n`;
    }),
  ];
  try {
    const code = await main(argv, env, startedAs);
    return { code, output, errorOutput };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
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
    // `npm start` builds first (tsc -b): quick when dist/ is up to date, slow after a source changed.
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

  it('a duration flag that reads as seconds is kept, and each one is a warning at start, in flag terms', async () => {
    const program = runProgram(script, [
      '--port',
      '0',
      '--heartbeat-ms',
      '300',
      '--idle-timeout-ms',
      '60',
      '--drain-timeout-ms',
      '5',
    ]);
    await program.waitFor(/listening on ws:\/\/127\.0\.0\.1:\d+/);
    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
    // Not `error WSSUP_INVALID_OPTION: Invalid option "heartbeatIntervalMs" …` with the other two
    // left out (one error line per code per window): one warning line each, no error line.
    expect(program.errorOutput().trimEnd().split('\n')).toEqual([
      'warning WSSUP_INVALID_OPTION: --heartbeat-ms 300 looks like seconds: 300 s is --heartbeat-ms 300000 ' +
        '(kept: every connection is pinged every 300 ms, and one whose pong takes longer is terminated)',
      'warning WSSUP_INVALID_OPTION: --idle-timeout-ms 60 looks like seconds: 60 s is --idle-timeout-ms 60000 ' +
        '(kept: a connection with no message for 60 ms is idle, and evicted at T)',
      'warning WSSUP_INVALID_OPTION: --drain-timeout-ms 5 looks like seconds: 5 s is --drain-timeout-ms 5000 ' +
        '(kept: a close the peer has not answered within 5 ms is cut (terminated))',
    ]);
  });

  // Which hosts warn is exposureWarning()'s, tested in reference-flags.test.ts without listening
  // beyond loopback (127.0.0.2 and ::1 are not configured on every machine either).
  it('survives request targets that new URL() cannot parse; no exposure warning on its default host, loopback', async () => {
    const program = runProgram(script, ['--port', '0']);
    const [, port] = await program.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/);
    const upgrade = (target: string) =>
      `GET ${target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${Buffer.alloc(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    // Upgrades are taken on `/` only: a target whose path is `//[` answers 404, with or without a
    // user, and the server goes on (the upgrade after the loop).
    for (const [request, status] of [
      ['GET //[ HTTP/1.1\r\nHost: x\r\n\r\n', 404],
      [upgrade('//['), 404],
      [upgrade('//[?user=a'), 404],
      [upgrade('/?user=a'), 101],
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
    expect(program.errorOutput()).not.toMatch(/warning/);
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

  it('refuses with close codes a browser can read with --refuse close', async () => {
    const program = runProgram(script, ['--port', '0', '--max-per-user', '1', '--refuse', 'close']);
    const [, url] = await program.waitFor(/listening on (ws:\/\/\S+)/);
    const held = await open(`${url}/?user=erin`);
    expect(await closed(new WebSocket(`${url}/?user=erin`))).toEqual({
      code: 4429,
      reason: 'user has reached the maximum number of connections (1) refusal=user-limit retry-after=5',
    });
    expect((await closed(new WebSocket(`${url}/`))).code).toBe(4401);
    held.terminate();
    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
  });

  // Read by main() in this process (mainInProcess), one after another.
  it.for([
    [['--max-per-user', '0'], /--max-per-user: expected an integer from 1 to 100000, got 0/],
    [['--eviction-threshold', 'lots'], /--eviction-threshold must be a number/],
    [['--no-such-flag'], /Unknown option '--no-such-flag'/],
    [['--port', '70000'], /--port must be an integer from 0 to 65535, got "70000"/],
    // Number() would read these as 80 and 1000: numbers are written in decimal digits.
    [['--port', '0x50'], /^error: --port must be an integer in decimal digits, got "0x50"$/m],
    [
      ['--drain-timeout-ms', '1e3'],
      /^error: --drain-timeout-ms must be an integer in decimal digits, got "1e3"$/m,
    ],
    [['--refuse', 'frame'], /--refuse: expected 'http' or 'close', got frame/],
    [
      ['--allowed-origins', 'https://a.example,app.example.com'],
      /--allowed-origins: expected an origin such as/,
    ],
    // Node reads an empty host as every interface: refused, not a public listener.
    [['--host', ''], /--host must not be empty/],
    [['--host', ' '], /--host must not be empty/],
    // An address this host does not have (TEST-NET-1): EADDRNOTAVAIL, not a crash. Not loopback, so
    // it starts only with --dashboard-open or a token (see the exposure tests below).
    [['--host', '192.0.2.1', '--dashboard-open'], /cannot listen: .*192\.0\.2\.1/],
    // The cluster's options are named by their flags too, not by cluster.<field>.
    [['--redis', 'http://127.0.0.1:1'], /--redis: expected a redis:\/\/ or rediss:\/\/ URL/],
    [['--redis', 'redis://127.0.0.1:1', '--lease-ttl-ms', '10'], /--lease-ttl-ms: expected an integer/],
    // A duration in seconds: refused, or kept and reported once; the line says the ms meant, in digits.
    [
      ['--redis', 'redis://127.0.0.1:1', '--lease-ttl-ms', '15'],
      /^error: --lease-ttl-ms: expected an integer from 300 to 2147483647, got 15, which looks like seconds: 15 s is 15000$/m,
    ],
    [
      ['--heartbeat-ms', '30'],
      /^error: --heartbeat-ms: expected an integer from 100 to 2147483647 on real time \(.*\), got 30, which looks like seconds: 30 s is 30000$/m,
    ],
    [['--redis', 'redis://127.0.0.1:1', '--node-id', 'a b'], /--node-id: expected 1 to 64 characters/],
    [['--redis', 'redis://127.0.0.1:1', '--store-unavailable', 'x'], /--store-unavailable: expected 'local'/],
    // The flags of admissionRate, maxPayloadBytes, maxBufferedBytes, activity, lingerMs,
    // retryAfterMs, heartbeatMessage, maxCloseRefusals, closeRefusalTimeoutMs, capacityLevels,
    // capacityHysteresis, and the cluster's commandTimeoutMs, keyPrefix and reaperIntervalMs.
    [['--admission-rate', 'fast'], /--admission-rate must be <perSecond>\[\/<burst>\] \(e\.g\. 2\/5/],
    [['--admission-rate', '2/5/7'], /--admission-rate must be <perSecond>\[\/<burst>\]/],
    [['--admission-rate', '0/5'], /--admission-rate \(perSecond\): expected a number greater than 0/],
    [
      ['--admission-rate', '2/0.5'],
      /--admission-rate \(burst\): expected an integer from 1 to 1000000, got 0\.5/,
    ],
    [['--max-payload-bytes', '0'], /--max-payload-bytes: expected an integer from 1 to 2147483647, got 0/],
    [['--max-buffered-bytes', 'lots'], /--max-buffered-bytes must be a number, got "lots"/],
    [['--activity', 'outbound'], /--activity: expected 'both' or 'inbound', got outbound/],
    [['--linger-ms=-1'], /--linger-ms: expected an integer from 0 to 2147483647, got -1/],
    [['--retry-after-ms', '1.5'], /--retry-after-ms: expected an integer from 0 to 2147483647, got 1\.5/],
    [['--heartbeat-message', ''], /--heartbeat-message: expected a non-empty string/],
    [
      ['--redis', 'redis://127.0.0.1:1', '--command-timeout-ms', '6000'],
      /--command-timeout-ms: expected an integer from 1 to 5000 \(at most 60000, and a third of --lease-ttl-ms\), got 6000/,
    ],
    [['--redis', 'redis://127.0.0.1:1', '--key-prefix', 'a{b}'], /--key-prefix: expected 1 to 64 characters/],
    [['--key-prefix', 'app'], /^error: --key-prefix needs --redis, --redis-cluster or --redis-sentinel$/m],
    [['--max-close-refusals=-1'], /--max-close-refusals: expected an integer from 0 to 1000000, got -1/],
    [
      ['--close-refusal-timeout-ms', '0'],
      /--close-refusal-timeout-ms: expected an integer from 1 to 2147483647, got 0/,
    ],
    [
      ['--capacity-levels', '0.9,0.5'],
      // The option it is a fraction of, named by its flag as the operator set it.
      /--capacity-levels: expected an array of at most 16 fractions of --max-per-user, .* strictly increasing/,
    ],
    [
      ['--capacity-levels', 'half'],
      /--capacity-levels must be comma-separated numbers \(0\.5,0\.8,0\.9\) or none, got "half"/,
    ],
    [
      ['--capacity-hysteresis', '1'],
      /--capacity-hysteresis: expected a number from 0 \(inclusive\) to 1 \(exclusive\), got 1/,
    ],
    [
      ['--redis', 'redis://127.0.0.1:1', '--reaper-interval-ms', '50'],
      /--reaper-interval-ms: expected an integer from 100/,
    ],
  ] as const)(
    'refuses %j with a clear message and exit code 2',
    async ([args, message]: readonly [readonly string[], RegExp]) => {
      const program = await mainInProcess([...args]);
      expect(program.code).toBe(2);
      expect(program.output).toMatch(message);
      expect(program.output).not.toMatch(/^\s+at /m); // a message, not a stack trace
    },
  );

  // An operator's trial of `ws-supervisor serve`: each of these was taken silently (the last of a
  // repeated flag won) or refused with a message that named the wrong thing. One line and the
  // help's, exit 2, and a password never shown. (main() in this process, as `serve` runs it.)
  it.for([
    [['--port', '1', '--port', '2'], {}, /^error: --port is given more than once: give it once$/],
    [['--max-per-user', '3', '--max-per-user=4'], {}, /^error: --max-per-user is given more than once/],
    [['--dashboard-open', '--dashboard-open'], {}, /^error: --dashboard-open is given more than once/],
    [['--prot', '8080'], {}, /^error: Unknown option '--prot', did you mean --port\?$/],
    [['--max-per-usr', '3'], {}, /^error: Unknown option '--max-per-usr', did you mean --max-per-user\?$/],
    [
      ['--redis', 'redis://127.0.0.1:99999'],
      {},
      /^error: --redis: its port \(after the host\) is out of range: a port is an integer from 1 to 65535$/,
    ],
    [
      ['--redis', 'redis://app:S3cr#t@127.0.0.1:6379'],
      {},
      /^error: --redis: its password \(or user name\) holds a #, \/ or \?, .*percent-encode it \(# as %23/,
    ],
    [
      [],
      { WSSUP_REDIS_URL: 'redis://:S3cr/t@127.0.0.1:6379' },
      /^error: WSSUP_REDIS_URL \(--redis\): its password \(or user name\) holds a #, \/ or \?, .*percent-encode/,
    ],
    [
      ['--redis-cluster', 'redis://127.0.0.1:7000,redis://:S3cr?t@127.0.0.1:7001'],
      {},
      /^error: --redis-cluster \(URL 2\): its password \(or user name\) holds a #, \/ or \?, .*percent-encode/,
    ],
    // A review of the above: a port that is no number was called out of range; a `,` in a
    // password split a --redis-cluster list into two URLs; a `%` not followed by two hex digits
    // started the server, whose store then failed with `URIError: URI malformed`.
    [
      ['--redis', 'redis://127.0.0.1:6a'],
      {},
      /^error: --redis: its port \(after the host\) is not an integer from 1 to 65535$/,
    ],
    [
      ['--redis-cluster', 'redis://:S3cr,t@127.0.0.1:6390'],
      {},
      /^error: --redis-cluster \(URL 1\): its port \(after the host\) is not an integer from 1 to 65535 \(a , in a password must be written %2C: a , separates the URLs\)$/,
    ],
    [
      ['--redis-cluster', 'redis://:12,S3cr@127.0.0.1:6390'],
      {},
      /^error: --redis-cluster \(URL 2\): .*no redis:\/\/ .*a , in a password must be written %2C/,
    ],
    [
      ['--redis', 'redis://:S3cr%zzt@127.0.0.1:6390'],
      {},
      /^error: --redis: its password \(or user name\) holds a % that is not .*write % as %25/,
    ],
    [
      [],
      { WSSUP_REDIS_URL: 'redis://app:S3cr%FFt@127.0.0.1:6390' },
      /^error: WSSUP_REDIS_URL \(--redis\): its password \(or user name\) holds a % that is not .*write % as %25/,
    ],
    // An empty URL in the list went to the library, whose refusal said only "an array".
    [['--redis-cluster', ','], {}, /^error: --redis-cluster \(URL 1\) is empty \(a leading ,\)$/],
    [
      ['--redis-cluster', 'redis://127.0.0.1:7000,,redis://127.0.0.1:7001'],
      {},
      /^error: --redis-cluster \(URL 2\) is empty \(a doubled ,\)$/,
    ],
    [
      [],
      { WSSUP_REDIS_CLUSTER: 'redis://127.0.0.1:7000, ' },
      /^error: WSSUP_REDIS_CLUSTER \(--redis-cluster\) \(URL 2\) is empty \(a trailing ,\)$/,
    ],
  ] as const)(
    '`ws-supervisor serve` refuses %j in one line, exit 2',
    async ([args, env, message]: readonly [readonly string[], NodeJS.ProcessEnv, RegExp]) => {
      const program = await mainInProcess([...args], env, 'ws-supervisor serve');
      expect(program.code).toBe(2);
      const [first, second, ...rest] = program.errorOutput.split('\n');
      expect(first).toMatch(message);
      expect(second).toBe('run `npx ws-supervisor serve --help` for the options');
      expect(rest).toEqual(['']);
      expect(program.output).not.toMatch(/S3cr/);
    },
  );

  // A password of digits then a `/`, `#` or `?` reads as a host and its port (`app:1234` of
  // `redis://app:1234/7@h`): the library's refusal named host app and port 1234 (its `received`
  // showed the digits). Such a URL may as well have no password at all (an `@` in a query), so
  // the hint says "if", and says what the library would have said too.
  it.for([
    'redis://app:1234/7@127.0.0.1:6379',
    'redis://app:1234#7@127.0.0.1:6379',
    'redis://app:1234?7@127.0.0.1:6379',
    'redis://app:6379/0@h',
    'redis://127.0.0.1:6390/0?x=a@b',
    'redis://h:1/P@Sx',
  ])(
    '`ws-supervisor serve --redis %s` is told a # / or ? in a password may be why, and not shown it',
    async (url: string) => {
      const program = await mainInProcess(['--redis', url], {}, 'ws-supervisor serve');
      expect(program.code).toBe(2);
      const [first, second, ...rest] = program.errorOutput.split('\n');
      expect(first).toBe(
        'error: --redis: an @ follows its host and port: if a user name and password come before that @, ' +
          'the password holds a #, / or ?, which a URL reads as the start of a fragment, a path or a query: ' +
          'percent-encode it (# as %23, / as %2F, ? as %3F: encodeURIComponent does); if not, a Redis URL ' +
          'has no path but a database number (/0) and no query or fragment',
      );
      expect(second).toBe('run `npx ws-supervisor serve --help` for the options');
      expect(rest).toEqual(['']);
      expect(program.output).not.toMatch(/1234|6379|6390/);
    },
  );

  // An `@` in the path or query of a URL with a whole user info before it is no password cut
  // short by a `/` or `?`: it gets the library's own refusal, not that hint.
  it.for(['redis://app:pass@127.0.0.1:6390/0?x=a@b'])(
    '`ws-supervisor serve --redis %s` is not told of a # / or ? in its password',
    async (url: string) => {
      const program = await mainInProcess(['--redis', url], {}, 'ws-supervisor serve');
      expect(program.code).toBe(2);
      expect(program.errorOutput).toMatch(/^error: --redis: expected a redis:\/\/ or rediss:\/\/ URL/);
      expect(program.errorOutput).not.toMatch(/password/);
    },
  );

  it('a port in use with --redis: says so and exits 2, without waiting for Redis', async () => {
    const busy = createServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    onTestFinished(() => void busy.close());
    const { port } = busy.address() as AddressInfo;
    // Nothing listens on :1: the cluster's store keeps trying to connect, which held the process open.
    const program = runProgram(script, ['--port', String(port), '--redis', 'redis://127.0.0.1:1']);
    expect(await program.exited).toBe(2);
    expect(program.errorOutput()).toMatch(/cannot listen: .*EADDRINUSE/);
  });

  // A container's HOST=0.0.0.0 without a token served /dashboard and the per-user /stats to anyone,
  // with one line on stderr: now it does not start. Nothing is listened on: each exits before.
  // (main() in this process; the program itself refuses HOST=0.0.0.0 in the test after these.)
  it.for([
    [['--host', '0.0.0.0'], {}, /^error: --host 0\.0\.0\.0 is not loopback, and without --dashboard-token, /],
    [[], { HOST: '0.0.0.0' }, /^error: HOST \(--host\) 0\.0\.0\.0 is not loopback, /],
    [['--host', '::'], {}, /^error: --host :: is not loopback, /],
    [
      ['--host', '0.0.0.0', '--dashboard-open', '--dashboard-token', 's3cret'],
      {},
      /^error: --dashboard-open and --dashboard-token contradict each other: /,
    ],
    [
      [],
      { HOST: '0.0.0.0', WSSUP_DASHBOARD_OPEN: '1', WSSUP_DASHBOARD_TOKEN: 's3cret' },
      /^error: WSSUP_DASHBOARD_OPEN \(--dashboard-open\) and WSSUP_DASHBOARD_TOKEN \(--dashboard-token\) contradict/,
    ],
    [['--dashboard-open=yes'], {}, /^error: Option '--dashboard-open' does not take an argument/],
    [
      [],
      { WSSUP_DASHBOARD_OPEN: 'yes' },
      /^error: WSSUP_DASHBOARD_OPEN \(--dashboard-open\) must be 1, true, 0 or false, got "yes"$/m,
    ],
  ] as const)(
    'refuses to start exposed %j %j: exit 2, a message saying what to do, and nothing listened on',
    async ([args, env, message]: readonly [readonly string[], Record<string, string>, RegExp]) => {
      // --redis at a port where nothing listens: the refusal comes before any connection to it.
      const program = await mainInProcess([...args, '--port', '0', '--redis', 'redis://127.0.0.1:1'], env);
      expect(program.code).toBe(2);
      expect(program.errorOutput).toMatch(message);
      expect(program.errorOutput).toMatch(/\nrun `npm start -- --help` for the options\n$/);
      expect(program.output).not.toMatch(/listening on/);
    },
  );

  it('says what to do when it refuses: a token, or --dashboard-open', async () => {
    const program = runProgram(script, ['--port', '0'], { HOST: '0.0.0.0' });
    expect(await program.exited).toBe(2);
    expect(program.errorOutput()).toMatch(/\nrun `npm start -- --help` for the options\n$/);
    expect(program.output()).not.toMatch(/listening on/);
    const [line] = program.errorOutput().split('\n');
    expect(line).toContain('--dashboard-token <secret> (better: WSSUP_DASHBOARD_TOKEN');
    expect(line).toContain('--dashboard-open (WSSUP_DASHBOARD_OPEN=1) to serve them open on purpose');
  });

  it('takes --dashboard-open on loopback as on any host: open, and no warning there', async () => {
    const program = runProgram(script, ['--port', '0', '--dashboard-open']);
    const [, port] = await program.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/);
    const reply = await fetch(`http://127.0.0.1:${port}/stats?perUser=1`);
    expect(reply.status).toBe(200);
    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
    expect(program.errorOutput()).not.toMatch(/warning/);
  });

  // Deploy trial: an unknown flag printed the whole usage (a hundred lines) after its error, in
  // every failed start's container log. One line, and where the options are.
  it('follows an error in the flags themselves with where the options are, and a value the supervisor refuses with nothing', async () => {
    // The first of each kind is the program itself (two processes, side by side); the others are
    // read by main() in this process, one after another.
    const usage = (errorOutput: string, args: string[]) =>
      expect(errorOutput, args.join(' ')).toMatch(
        /^error: [^\n]*\nrun `npm start -- --help` for the options\n$/,
      );
    const noUsage = (errorOutput: string, flag: string) => {
      expect(errorOutput).toMatch(new RegExp(`^error: ${flag}: `));
      expect(errorOutput).not.toMatch(/Usage:/);
    };
    const [flagError, refusedValue] = [
      runProgram(script, ['--no-such-flag']),
      runProgram(script, ['--max-per-user', '0']),
    ];
    expect(await flagError.exited).toBe(2);
    usage(flagError.errorOutput(), ['--no-such-flag']);
    expect(await refusedValue.exited).toBe(2);
    noUsage(refusedValue.errorOutput(), '--max-per-user');
    for (const args of [
      ['--port', 'abc'],
      ['--host', ''],
      ['--node-id', 'a'],
      ['--admission-rate', '2/'],
      ['--command-timeout-ms', '100'],
    ]) {
      const program = await mainInProcess(args);
      expect(program.code, args.join(' ')).toBe(2);
      usage(program.errorOutput, args);
    }
    const rate = await mainInProcess(['--admission-rate', '0']);
    expect(rate.code).toBe(2);
    noUsage(rate.errorOutput, '--admission-rate \\(perSecond\\)');
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

  // Deploy trial: under `pm2-runtime start eco.config.cjs` in cluster mode every worker said
  // `unknown command "start"`: a node:cluster worker inherits its primary's arguments, and pm2
  // appends the app's `args` after them (and sets them, joined with commas, in the variable `args`).
  // This is the argv and environment pm2 7.0 gave a worker (seen with a real pm2-runtime).
  it("in pm2's cluster mode, takes its command from the app's args, not from pm2-runtime's own", async () => {
    const pm2Worker = { pm_id: '0', exec_mode: 'cluster_mode', args: 'serve,--help' };
    const program = inClusterWorker(['start', 'eco.config.cjs', 'serve', '--help'], pm2Worker);
    expect(await program.exited).toBe(0);
    expect(program.output().split('\n')[0]).toMatch(/^Usage: npx ws-supervisor serve \[options\]/);
    // An argument with a comma in it is one argument still.
    const comma = inClusterWorker(['start', 'eco.config.cjs', 'serve', '--port', '1,2'], {
      ...pm2Worker,
      args: 'serve,--port,1,2',
    });
    expect(await comma.exited).toBe(2);
    expect(comma.errorOutput().split('\n')[0]).toMatch(/^error: --port .*"1,2"/);
    // Outside pm2's cluster mode the arguments are the CLI's own, as before.
    const fork = inClusterWorker(['start', 'eco.config.cjs'], { pm_id: '0', exec_mode: 'fork_mode' });
    expect(await fork.exited).toBe(2);
    expect(fork.errorOutput().split('\n')[0]).toBe('error: unknown command "start", did you mean "chart"?');
  });

  // Review: a process that a pm2 cluster worker starts inherits pm2's environment, not its
  // argv: its arguments are its own (it said "no command given" and exited 2).
  it("a process started by a pm2 cluster worker (pm2's environment, not a worker) reads its own arguments", async () => {
    const child = runProgram('dist/src/cli.js', ['serve', '--help'], {
      pm_id: '0',
      exec_mode: 'cluster_mode',
    });
    expect(await child.exited).toBe(0);
    expect(child.output().split('\n')[0]).toMatch(/^Usage: npx ws-supervisor serve \[options\]/);
  });

  // Ops user trial: `npx ws-supervisor` printed the usage alone, with no `error:` line, and a
  // typo of a command got no guess; every other usage error says what is wrong first.
  it('without a command, or with a mistyped one, says so first and names the likely command', async () => {
    const cases: [string[], string][] = [
      [[], 'error: no command given: serve or chart'],
      [['srve'], 'error: unknown command "srve", did you mean "serve"?'],
      [['chrat'], 'error: unknown command "chrat", did you mean "chart"?'],
      [['nonsense'], 'error: unknown command "nonsense"'],
      [
        ['--port', '8080'],
        'error: unknown option "--port": options come after a command (ws-supervisor serve --port 8080)',
      ],
    ];
    for (const [args, line] of cases) {
      const program = runProgram('dist/src/cli.js', args);
      expect(await program.exited, args.join(' ')).toBe(2);
      expect(program.errorOutput()).toBe(program.output());
      expect(program.errorOutput()).toMatch(/\n\nUsage: ws-supervisor <command> \[options\]\n/);
      expect(program.errorOutput().split('\n')[0]).toBe(line);
    }
  });

  // From an installed package, `serve --help` began "Usage: npm start -- [options]": a command
  // that works only in a clone. Each names the command it was started by first, and the other.
  it('its --help names the command that started it: `npx ws-supervisor serve`, or `npm start` in a clone', async () => {
    const [serve, start] = [
      runProgram('dist/src/cli.js', ['serve', '--help']),
      runProgram(script, ['--help']),
    ];
    expect(await serve.exited).toBe(0);
    expect(await start.exited).toBe(0);
    const [serveFirst, startFirst] = [serve.output(), start.output()].map((text) => text.split('\n')[0]);
    expect(serveFirst).toBe(
      'Usage: npx ws-supervisor serve [options]   (in a clone of ws-supervisor: npm start -- [options])',
    );
    expect(startFirst).toBe(
      'Usage: npm start -- [options]   (from an installed package: npx ws-supervisor serve [options])',
    );
    // The rest is the same text.
    expect(serve.output().split('\n').slice(1)).toEqual(start.output().split('\n').slice(1));
    // A bad flag under `serve` names the help of `serve`.
    const bad = runProgram('dist/src/cli.js', ['serve', '--no-such-flag']);
    expect(await bad.exited).toBe(2);
    expect(bad.errorOutput()).toBe(
      "error: Unknown option '--no-such-flag'\nrun `npx ws-supervisor serve --help` for the options\n",
    );
  });
});
