/**
 * Every example starts with one command, prints its listening line, serves,
 * and drains on SIGTERM. These run the built programs (npm test builds first).
 * The reference server's command line (`npm start`, its flags, the values it refuses) is in
 * reference-command-line.test.ts.
 */
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { runCommand, runProgram } from '../helpers/process.js';
import { parseExposition } from '../helpers/prometheus.js';
import {
  findRedisServer,
  type PrivateRedis,
  redisServerHint,
  startRedisServer,
} from '../helpers/redis-server.js';
import { requireExternal } from '../helpers/requirements.js';
import { closed, connectRefused, nextMessage } from '../helpers/server.js';
import { afterThisTest, scopedCase } from '../helpers/test-scope.js';

/** Resolves with what the program's exit gave, or 'still running' after `ms`. */
function exitWithin(exited: Promise<number | null>, ms: number): Promise<number | null | 'still running'> {
  let bound: NodeJS.Timeout | undefined;
  return Promise.race([
    exited,
    new Promise<'still running'>((resolve) => (bound = setTimeout(resolve, ms, 'still running'))),
  ]).finally(() => clearTimeout(bound));
}

async function open(url: string, options?: WebSocket.ClientOptions): Promise<WebSocket> {
  const ws = new WebSocket(url, options);
  await once(ws, 'open');
  return ws;
}

describe('existing HTTP server example', () => {
  it('supervises /chat only, authenticates by bearer token, refuses pages of other sites, and drains on SIGTERM', async () => {
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
    // allowedOrigins: a page of another site is refused before authenticate; a local page connects.
    expect(await connectRefused(`${url}/chat?token=eve`, { origin: 'https://evil.example' })).toBe(403);
    const page = new WebSocket(`${url}/chat?token=lou`, { origin: 'http://localhost:5173' });
    const pageHello = nextMessage(page);
    await once(page, 'open');
    expect(JSON.parse(await pageHello)).toMatchObject({ hello: 'lou' });
    page.close();

    const closing = closed(ws);
    program.child.kill('SIGTERM');
    expect((await closing).code).toBe(1001);
    expect(await program.exited).toBe(0);
  });
});

/**
 * Every example (the project's style rule for examples): one command, port 0 unless --port,
 * the listening line, and a drain with 1001 on SIGINT or SIGTERM, also when
 * the signal arrives twice (Ctrl-C under npm reaches node twice).
 */
describe('every example (issue 13, item 7)', () => {
  // Without redis-server the cluster example still runs (on a port where nothing listens), but
  // its checks against Redis are skipped: say so, and fail under WSSUP_REQUIRE_EXTERNAL=1, as
  // every other test that needs it does.
  const hasRedis = requireExternal(
    'redis-server',
    findRedisServer() !== undefined,
    `${redisServerHint()}\nHere: the cluster example runs without it, but what it answers with Redis is not checked.`,
  );
  let redis: PrivateRedis | undefined;
  beforeAll(async () => {
    if (hasRedis) redis = await startRedisServer();
  });
  afterAll(() => redis?.stop());
  interface Example {
    /** The built program. */
    script: string;
    /** Where a client connects, after ws://127.0.0.1:<port>. */
    path: string;
    /** Checks one exchange over an open client. */
    exchange(ws: WebSocket): Promise<void>;
    /** Arguments, read when the program starts. */
    args?: () => string[];
    /** Environment variables, besides the test's own. */
    env?: NodeJS.ProcessEnv;
    /** It sends a greeting on open, before any exchange. */
    greets?: boolean;
    /** Where the unparsable target's connection asks to go, if not `path` (see unparsableTarget). */
    targetPath?: string;
  }

  const echo = async (ws: WebSocket) => {
    ws.send('{"text":"stays text"}');
    const [text, textIsBinary] = (await once(ws, 'message')) as [Buffer, boolean];
    expect([text.toString(), textIsBinary]).toEqual(['{"text":"stays text"}', false]);
    ws.send(Buffer.from([0, 1, 2]));
    const [bytes, bytesAreBinary] = (await once(ws, 'message')) as [Buffer, boolean];
    expect([[...bytes], bytesAreBinary]).toEqual([[0, 1, 2], true]);
  };

  const examples: Record<string, Example> = {
    'reference-server/main.ts': {
      script: 'dist/examples/reference-server/main.js',
      path: '/?user=ex',
      exchange: echo,
    },
    // The README's first block, pasted as it is: no flags, its port from PORT (8080 without it).
    'embedding.ts': {
      script: 'dist/examples/embedding.js',
      path: '/?token=ex',
      exchange: echo,
      env: { PORT: '0' },
    },
    'express-dashboard.ts': {
      script: 'dist/examples/express-dashboard.js',
      path: '/?user=ex',
      exchange: echo,
      env: { DASHBOARD_TOKEN: 'example-token-0123456789' }, // required: it has no fallback token
    },
    'observing.ts': { script: 'dist/examples/observing.js', path: '/?user=ex', exchange: echo },
    'fastify.ts': { script: 'dist/examples/fastify.js', path: '/ws?user=ex', exchange: echo },
    // Issue 12: on the file's private Redis; without redis-server, on a port where nothing
    // listens (it serves anyway, by its 'local' outage policy). Never the shared 6379.
    'cluster.ts': {
      script: 'dist/examples/cluster.js',
      path: '/?user=ex',
      async exchange(ws) {
        await echo(ws);
        // GET /notify: sendToUser(..., { cluster: true }) serves this process's connection at
        // once, Redis or not; with Redis, it answers that no other process was told.
        const notice = nextMessage(ws);
        const http = new URL(ws.url.replace('ws:', 'http:'));
        const answer = await fetch(`${http.origin}/notify?user=ex&message=hi`);
        expect(JSON.parse(await notice)).toEqual({ notice: 'hi' });
        if (redis !== undefined)
          expect(await answer.json()).toEqual({ delivered: 1, nodes: 0, unreached: 0 });
        else await answer.text();
        // A user id the library refuses is the caller's mistake, not an outage.
        const bad = await fetch(`${http.origin}/notify?message=hi`);
        expect(bad.status).toBe(400);
        expect(((await bad.json()) as { error: string }).error).toMatch(/user id/);
      },
      args: () => ['--redis', redis?.url ?? 'redis://127.0.0.1:1', '--node-id', 'example'],
    },
    // On the file's private Redis (or, without redis-server, a port where nothing listens: the
    // presence's commands fail and are logged, and it serves). A friend who comes online is told.
    'cluster-presence.ts': {
      script: 'dist/examples/cluster-presence.js',
      path: '/?user=ex',
      async exchange(ws) {
        if (redis === undefined) return;
        // A new name each time: the online set outlives the process (its hand-over's grace).
        const name = `friend-${Math.random().toString(36).slice(2)}`;
        const notice = nextMessage(ws);
        const friend = await open(ws.url.replace('user=ex', `user=${name}`));
        expect(JSON.parse(await notice)).toEqual({ user: name, status: 'online' });
        friend.close();
      },
      args: () => ['--redis', redis?.url ?? 'redis://127.0.0.1:1'],
    },
    'express-registry.ts': {
      script: 'dist/examples/express-registry.js',
      path: '/ws?user=ex',
      exchange: echo,
    },
    'logging.ts': { script: 'dist/examples/logging.js', path: '/?user=ex', exchange: echo, greets: true },
    // One connection per user: the unparsable target's (see below) is another user's.
    'client.ts': {
      script: 'dist/examples/client.js',
      path: '/?user=ex',
      exchange: echo,
      targetPath: '/?user=target',
    },
    'rooms.ts': {
      script: 'dist/examples/rooms.js',
      path: '/?user=ex&room=r',
      async exchange(ws) {
        ws.send('{"to":"r","text":"hi"}');
        expect(JSON.parse(await nextMessage(ws))).toEqual({ sent: 'r', delivered: 0 });
      },
    },
    'plans.ts': {
      script: 'dist/examples/plans.js',
      path: '/?token=free-ann',
      greets: true,
      async exchange(ws) {
        // A Free user holds 3: two more are admitted, the 4th is refused with the Free limit.
        const more = [new WebSocket(ws.url), new WebSocket(ws.url)];
        await Promise.all(more.map((socket) => once(socket, 'open')));
        const fourth = new WebSocket(ws.url);
        const refused = await closed(fourth);
        expect(refused.code).toBe(4429);
        expect(refused.reason).toMatch(/maximum number of connections \(3\)/);
        for (const socket of more) socket.close();
        await Promise.all(more.map((socket) => closed(socket)));
        ws.send('hi');
        expect(await nextMessage(ws)).toBe('hi');
      },
    },
    // Its visitors need a signed cookie (test/examples/per-ip-limit.test.ts runs those): an agent here.
    'per-ip-limit.ts': {
      script: 'dist/examples/per-ip-limit.js',
      path: '/chat?token=agent-ann',
      greets: true,
      exchange: echo,
    },
    'existing-http-server.ts': {
      script: 'dist/examples/existing-http-server.js',
      path: '/chat?token=ex',
      async exchange(ws) {
        ws.send('hi');
        expect(JSON.parse(await nextMessage(ws))).toEqual({ from: 'ex', text: 'hi' });
      },
    },
  };

  it('lists every example there is', () => {
    const files = readdirSync(new URL('../../examples/', import.meta.url), { withFileTypes: true })
      // A test file among the examples (testing-your-app.test.ts) is not a program: vitest runs it.
      // Nor is examples/react/, a page's module: test/browser/react-strict-mode.test.ts runs it.
      .filter((entry) => !entry.name.endsWith('.test.ts') && entry.name !== 'react')
      .map((entry) => (entry.isDirectory() ? `${entry.name}/main.ts` : entry.name));
    expect(Object.keys(examples).sort()).toEqual(files.sort());
  });

  // Their authenticate read the query with new URL(request.url, base), which throws on a
  // target such as `//[`: any client got a 500 and made each example report a failing hook
  // (a stack trace per request on stderr). Such a target still has a query to read. Each
  // example whose path has a query at / (not the cluster's, which has a test of its own, nor
  // the reference server's) is asked so in its SIGTERM case, on the process that case starts,
  // after the exchange (so that the extra connection changes no count the exchange checks).
  const unparsableTarget = (name: string, { path }: Example) =>
    path.startsWith('/?') && name !== 'cluster.ts' && name !== 'reference-server/main.ts'
      ? '; reads the query of a target new URL() cannot parse, and reports nothing'
      : '';
  type SignalCase = readonly [name: string, signal: 'SIGINT' | 'SIGTERM', also: string, example: Example];
  const signalCases = Object.entries(examples).flatMap(([name, example]): SignalCase[] => [
    [name, 'SIGINT', '', example],
    [name, 'SIGTERM', unparsableTarget(name, example), example],
  ]);
  const drainsOnSignals = async ([, signal, also, example]: SignalCase) => {
    const program = runProgram(example.script, example.args?.() ?? [], example.env);
    const [, url, port] = await program.waitFor(/listening on (ws:\/\/127\.0\.0\.1:(\d+))/);
    expect(Number(port)).toBeGreaterThan(0);
    // A straggler (a scanner, a slowloris): a request whose headers never end, held open. After
    // server.close() Node no longer checks headersTimeout, so only closeAllConnections() after
    // shutdown() ends it (the examples' shutdown without it never exited: a hostile-client trial).
    // Connected before the client below, so that the program has accepted and read it by the time
    // that client's exchange is done: the program's accept and read order, no sleep.
    const straggler = connectTcp(Number(port), '127.0.0.1');
    straggler.on('error', () => {}); // reset when the program cuts it
    afterThisTest(() => void straggler.destroy());
    await once(straggler, 'connect');
    straggler.write('GET / HTTP/1.1\r\nHost: a\r\n');
    const ws = new WebSocket(`${url}${example.path}`);
    const greeting = once(ws, 'message'); // existing-http-server greets first
    await once(ws, 'open');
    if (example.greets === true || example.script.endsWith('existing-http-server.js')) await greeting;
    await example.exchange(ws);

    if (also !== '') {
      const socket = connectTcp(Number(port), '127.0.0.1');
      socket.write(
        `GET //[${(example.targetPath ?? example.path).slice(1)} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${Buffer.alloc(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      const [reply] = (await once(socket, 'data')) as [Buffer];
      socket.destroy();
      // 101: admitted (or, with `refuse: 'close'`, refused by a close frame: see below).
      expect(reply.toString().split('\r\n', 1)[0]).toBe('HTTP/1.1 101 Switching Protocols');
    }

    const closing = closed(ws);
    program.child.kill(signal);
    program.child.kill(signal);
    expect((await closing).code).toBe(1001);
    // Bounded, to fail with a message rather than at the case's timeout; generous for a loaded
    // machine (the programs exit within milliseconds of their last client's 1001).
    expect(await exitWithin(program.exited, 10_000)).toBe(0);
    // Nothing reported: no `WSSUP_APP_HOOK_FAILED` on stderr, nor in the logging example's log.
    if (also !== '') expect(program.output()).not.toMatch(/authenticate failed/);
  };
  const name = '%s: listens on a free port, serves, and drains on %s sent twice%s';
  // Up to five of these start a process each at once (vitest's maxConcurrency), and a start costs
  // half a second to a second and a half of CPU: on two loaded cores the five can take longer
  // than the suite's 20 s, as other process tests found (their 60 s). The checks are the same.
  const processCase = { timeout: 60_000 };
  // Each waits for a process of its own to start, serve and drain: they run concurrently
  // (scopedCase keeps each process's cleanup on its own case). Not the cluster example: the
  // answer of its GET /notify counts the other processes on the file's Redis, so its two cases
  // run one at a time, as the two below do; so do cluster-presence's, whose notices go to every
  // user its process holds.
  const onRedis = (example: string) => example === 'cluster.ts' || example === 'cluster-presence.ts';
  it.concurrent.for(signalCases.filter(([example]) => !onRedis(example)))(
    name,
    processCase,
    scopedCase(drainsOnSignals),
  );
  it.for(signalCases.filter(([example]) => onRedis(example)))(name, drainsOnSignals);

  it('cluster.ts: says once, through ready(), when it holds its first lease', async ({ skip }) => {
    if (redis === undefined) return skip('no redis-server: the example would wait out its 5 s bound');
    const program = runProgram('dist/examples/cluster.js', ['--redis', redis.url, '--node-id', 'ready']);
    await program.waitFor(/cluster: lease held as ready\n/);
    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
    expect(program.output().match(/lease held/g)).toHaveLength(1);
    expect(program.output()).not.toMatch(/no lease yet/);
  });

  // Its HTTP routes parsed each target with new URL(), which throws on `//[`: one such request
  // ended the process (the reference server survives it: the test of that name above).
  it('cluster.ts: a request target new URL() cannot parse is a 400, and the process serves on', async () => {
    const program = runProgram('dist/examples/cluster.js', [
      '--redis',
      redis?.url ?? 'redis://127.0.0.1:1',
      '--node-id',
      'targets',
    ]);
    const [, port] = await program.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/);
    const socket = connectTcp(Number(port), '127.0.0.1');
    socket.end('GET //[ HTTP/1.1\r\nHost: x\r\n\r\n');
    // Read until the socket closes: a process that died answers nothing.
    let reply = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      reply += chunk;
    });
    await once(socket, 'close');
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    const ws = await open(`ws://127.0.0.1:${port}/?user=after`);
    ws.close();
    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
  });
});

describe('express-dashboard example', () => {
  // Its README snippet had `DASHBOARD_TOKEN ?? 'demo'`: pasted into an app whose variable is unset,
  // the dashboard was behind a token anyone can read in the README. Now it does not start.
  it.for([
    ['unset', undefined],
    ['empty', ''],
    ['blank', '  '],
  ] as const)(
    'refuses to start with DASHBOARD_TOKEN %s: exit 2, one line saying to set it, nothing listened on',
    async ([, token]) => {
      const program = runProgram('dist/examples/express-dashboard.js', ['--port', '0'], {
        DASHBOARD_TOKEN: token,
      });
      expect(await program.exited).toBe(2);
      expect(program.errorOutput()).toMatch(
        /^error: set DASHBOARD_TOKEN to the secret that opens the dashboard/,
      );
      expect(program.errorOutput()).not.toMatch(/^\s+at /m);
      expect(program.output()).not.toMatch(/listening on/);
    },
  );

  // Review: a DASHBOARD_TOKEN under tokenAuthorizer's 16 characters died with its stack trace,
  // where the reference server says the same rule in one line (readConfig).
  it('refuses a DASHBOARD_TOKEN under 16 characters: exit 2, one line naming the rule, never the token', async () => {
    const program = runProgram('dist/examples/express-dashboard.js', ['--port', '0'], {
      DASHBOARD_TOKEN: 'Sh0rt-s3cret',
    });
    expect(await program.exited).toBe(2);
    expect(program.errorOutput().trimEnd().split('\n')).toEqual([
      expect.stringMatching(
        /^error: DASHBOARD_TOKEN: the token must be at least 16 characters, got 12 .*openssl rand -hex 16/,
      ),
    ]);
    expect(program.errorOutput()).not.toMatch(/Sh0rt|s3cret/);
    expect(program.output()).not.toMatch(/listening on/);
  });

  it('keeps `npm run example:express-dashboard`, then ?token=demo-token-not-a-secret, working: its script sets DASHBOARD_TOKEN=demo-token-not-a-secret unless set', async () => {
    const { scripts } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const script = scripts['example:express-dashboard'] ?? '';
    expect(script).toMatch(/^npm run build --silent && /);
    // The script as npm runs it (sh -c), without its build step (the tests run on a build).
    const program = runCommand(
      'sh',
      ['-c', `${script.replace(/^npm run build --silent && /, '')} --port 0`],
      {
        DASHBOARD_TOKEN: undefined,
      },
    );
    const [, port] = await program.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/);
    expect((await fetch(`http://127.0.0.1:${port}/ops/dashboard?token=demo-token-not-a-secret`)).status).toBe(
      200,
    );
    expect((await fetch(`http://127.0.0.1:${port}/ops/dashboard`)).status).toBe(401);
    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
  });

  it('mounts the dashboard on a path of its own behind a token, and serves /metrics', async () => {
    const program = runProgram('dist/examples/express-dashboard.js', ['--port', '0'], {
      DASHBOARD_TOKEN: 'opensesame-0123456789',
    });
    const [, port] = await program.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/);
    const http = `http://127.0.0.1:${port}`;
    const ws = await open(`ws://127.0.0.1:${port}/?user=exa`);
    expect(await connectRefused(`ws://127.0.0.1:${port}/`)).toBe(401);

    // Express's own routes, and the dashboard under /ops/dashboard only.
    expect(await (await fetch(`${http}/`)).text()).toMatch(/your own routes/);
    expect((await fetch(`${http}/ops/dashboard`)).status).toBe(401);
    expect((await fetch(`${http}/ops/dashboard?token=wrong`)).status).toBe(403);
    const page = await fetch(`${http}/ops/dashboard?token=opensesame-0123456789`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("new EventSource(base + '/events' + location.search)");
    expect((await fetch(`${http}/ops/dashboard/nowhere?token=opensesame-0123456789`)).status).toBe(404);
    expect((await fetch(`${http}/dashboard?token=opensesame-0123456789`)).status).toBe(404); // Express's 404: not mounted there
    const events = new AbortController();
    const stream = await fetch(`${http}/ops/dashboard/events?token=opensesame-0123456789`, {
      signal: events.signal,
    });
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!/event: snapshot\ndata: .*\n\n/.test(text))
      text += new TextDecoder().decode((await reader.read()).value);
    const snapshot = JSON.parse(/event: snapshot\ndata: (.*)\n/.exec(text)?.[1] ?? 'null');
    expect(snapshot.stats).toMatchObject({
      connections: 1,
      users: 1,
      counters: { admitted: 1, rejected: 1 },
    });
    events.abort();

    const metrics = parseExposition(await (await fetch(`${http}/metrics`)).text());
    expect(metrics.value('ws_supervisor_admitted_total')).toBe(1);
    expect(metrics.value('ws_supervisor_rejected_total', { reason: 'unauthenticated', status: '401' })).toBe(
      1,
    );
    expect(metrics.value('ws_supervisor_connections', { state: 'active' })).toBe(1);

    const closing = closed(ws);
    program.child.kill('SIGTERM');
    expect((await closing).code).toBe(1001);
    expect(await program.exited).toBe(0);
  });
});

describe('observing example', () => {
  it('serves stats(), userStats() and the charts it quotes in the README', async () => {
    const program = runProgram('dist/examples/observing.js', ['--port', '0']);
    const [, url] = await program.waitFor(/listening on (ws:\/\/\S+)/);
    const ws = await open(`${url}/?user=olga`);
    const http = url?.replace('ws:', 'http:');
    expect(await (await fetch(`${http}/stats`)).json()).toMatchObject({ connections: 1, users: 1 });
    expect(await (await fetch(`${http}/stats?user=olga`)).json()).toMatchObject({ userId: 'olga', live: 1 });
    expect(await (await fetch(`${http}/stats?user=nobody`)).json()).toBeNull();
    // An invalid id is the caller's mistake (userStats throws WSSUP_INVALID_ARGUMENT): 400, and the server goes on.
    const invalid = await fetch(`${http}/stats?user=`);
    expect(invalid.status).toBe(400);
    expect(await invalid.text()).toBe('userStats: user id is empty, got ""\n');
    expect(await (await fetch(`${http}/chart.svg`)).text()).toMatch(/data-state="active"/);
    expect(await (await fetch(`${http}/chart.json`)).json()).toMatchObject({ format: 'ws-supervisor-chart' });

    const disposed = program.waitFor(/disposed olga \S+: closed, close 1000/);
    ws.close(1000);
    await disposed;
    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
  });
});

describe('logging example (issue 11)', () => {
  it('logs every event as a JSON line, and refuses with close frames a browser can read', async () => {
    const program = runProgram('dist/examples/logging.js', ['--port', '0']);
    const [, url] = await program.waitFor(/listening on (ws:\/\/\S+)/);
    const alice = new WebSocket(`${url}/?user=alice&rid=req-7`);
    const [welcome] = (await once(alice, 'message')) as [Buffer];
    expect(welcome.toString()).toBe('welcome, alice (free)');
    await program.waitFor(/"event":"admitted"/);

    const banned = new WebSocket(`${url}/?user=banned-bob`, { headers: { 'user-agent': 'example-test/1' } });
    expect(await closed(banned)).toEqual({ code: 4403, reason: 'account suspended refusal=refused' });
    const anonymous = new WebSocket(`${url}/`);
    expect((await closed(anonymous)).code).toBe(4401);
    await program.waitFor(/"reason":"unauthenticated"/);

    const lines = program
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.find((line) => line.event === 'admitted')).toMatchObject({
      level: 30,
      service: 'chat',
      msg: 'admitted',
      userId: 'alice',
      correlationId: 'req-7',
    });
    expect(lines.find((line) => line.event === 'rejected' && line.reason === 'refused')).toMatchObject({
      status: 403,
      via: 'close',
      message: 'account suspended',
      remoteAddress: '127.0.0.1',
      userAgent: 'example-test/1',
    });

    const closing = closed(alice);
    program.child.kill('SIGTERM');
    expect((await closing).code).toBe(1001);
    expect(await program.exited).toBe(0);
    expect(program.output()).toMatch(/"event":"disposed".*"reason":"shutdown"/);
  });
});

// The order of a shutdown, which no signal case above can see: undone right after shutdown()
// (as these examples did before), an upgrade in the instant before the server closes reaches
// the app as a plain GET (test/integration/detach-after-close.test.ts shows it on real
// servers); here the instant is too short to hit from outside. So the examples are read: the
// undo is called only where the server has closed, and nowhere else.
describe("the examples undo attach() only once the server has closed (README, 'When shutting down')", () => {
  it.each([
    ['fastify.ts', /^app\.addHook\('onClose', async \(\) => detach\(\)\);$/],
    ['express-registry.ts', /^server\.close\(\(\) => detach\(\)\); /],
  ])('%s', (file, where) => {
    const source = readFileSync(new URL(`../../examples/${file}`, import.meta.url), 'utf8');
    const calls = source
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => /\bdetach\(\)/.test(line));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatch(where);
  });
});
