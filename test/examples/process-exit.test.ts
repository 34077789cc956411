/**
 * A process that stops using a supervisor exits, as Node's convention wants: a library's
 * background timers never hold the process open, its sockets and servers do. Once no
 * connection is held (and no upgrade waits for `authenticate`), the default clock's
 * timers (a lingering user supervisor's `lingerMs`) do not keep it alive; while one is
 * held, its socket does (and its delays stay ref'd). `await shutdown()` still resolves.
 * Each program is its own process, on the built package (npm test builds first).
 */
import { pathToFileURL } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { runCommand } from '../helpers/process.js';
import { httpRefusal } from '../helpers/refusals.js';
import { closed } from '../helpers/server.js';

const LINGER_MS = 20_000;
const entry = pathToFileURL(new URL('../../dist/src/index.js', import.meta.url).pathname).href;

/**
 * A production supervisor lingering LINGER_MS on an HTTP server of its own. It prints the
 * port; at every `disposed`, its reason and how many ref'd Timeouts the process has. At its
 * first `disposed` (or, with `closeAtRefusal`, at its first `rejected` instead) it closes
 * the server; once that is closed, runs `stop` (a statement awaiting shutdown(), or nothing)
 * and prints `done`. Its `authenticate` is synchronous; `asyncAuthenticate` makes it an
 * async function that refuses the user `bob` (null), printing the ref'd Timeouts
 * while it waits.
 */
function program(stop = '', { asyncAuthenticate = false, closeAtRefusal = false } = {}): string {
  const authenticate = asyncAuthenticate
    ? `async (request) => {
        const user = new URL(request.url, 'http://x').searchParams.get('user');
        if (user !== 'bob') return { userId: user };
        await new Promise((resolve) => setImmediate(resolve)); // the wait has begun
        console.log('authenticating timeouts', timeouts());
        return null;
      }`
    : `(request) => ({ userId: new URL(request.url, 'http://x').searchParams.get('user') })`;
  return `
    import { createServer } from 'node:http';
    import { createSupervisor } from ${JSON.stringify(entry)};
    // Node lists a Timeout among its active resources only while it is ref'd (holds the process).
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const supervisor = createSupervisor({
      preset: 'production',
      lingerMs: ${LINGER_MS},
      authenticate: ${authenticate},
    });
    const server = createServer();
    supervisor.attach(server);
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      server.close(async () => {
        const { lingeringSupervisors, pendingTimers } = supervisor.stats().resources;
        console.log('server closed: lingering', lingeringSupervisors, 'timers', pendingTimers);
        ${stop}
        console.log('done');
      });
    };
    supervisor.on('disposed', (event) => {
      console.log('disposed', event.reason, 'timeouts', timeouts());
      if (!${closeAtRefusal}) close();
    });
    supervisor.on('rejected', (event) => {
      console.log('rejected', event.reason);
      if (${closeAtRefusal}) close();
    });
    server.listen(0, '127.0.0.1', () => console.log('port', server.address().port));
  `;
}

function start(code: string) {
  return runCommand(process.execPath, ['--input-type=module', '-e', code]);
}

async function connect(port: string, user = 'alice'): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/?user=${user}`);
  onTestFinished(() => ws.terminate());
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return ws;
}

/** Resolves with what the program's exit gave, or 'still running' after `ms`. */
function exitWithin(exited: Promise<number | null>, ms: number): Promise<number | null | 'still running'> {
  let bound: NodeJS.Timeout | undefined;
  return Promise.race([
    exited,
    new Promise<'still running'>((resolve) => (bound = setTimeout(resolve, ms, 'still running'))),
  ]).finally(() => clearTimeout(bound));
}

describe('the process exits once no connection is held (timers do not hold it open)', () => {
  it('last connection closed, server closed, no shutdown(): exits while its user supervisor lingers', async () => {
    const child = start(program());
    const [, port] = await child.waitFor(/port (\d+)/);
    const ws = await connect(port as string);
    ws.close();
    await closed(ws);
    // The supervisor lingers: its lingerMs delay is pending on the default clock.
    await child.waitFor(/server closed: lingering 1 timers 1\ndone\n/);
    // Well under lingerMs: what exits it is that the linger delay does not hold it, not speed.
    expect(await exitWithin(child.exited, LINGER_MS / 2)).toBe(0);
  });

  it('a connection still held keeps the process alive after server.close(): its socket holds it', async () => {
    // Decided: a held connection is a socket, which holds the process (as any socket does);
    // its delays (heartbeat, idle) stay ref'd too. It exits once that connection ends.
    const child = start(program());
    const [, port] = await child.waitFor(/port (\d+)/);
    const first = await connect(port as string);
    const second = await connect(port as string);
    second.close();
    const [, timeouts] = await child.waitFor(/disposed closed timeouts (\d+)/);
    // The held connection's delays (heartbeat, idle) are ref'd again since its admission:
    // without that edge they would stay unref'd (0 here), held up only by its socket.
    expect(Number(timeouts)).toBeGreaterThan(0);
    expect(await exitWithin(child.exited, 1_000)).toBe('still running');
    first.close();
    expect(await exitWithin(child.exited, LINGER_MS / 2)).toBe(0);
  });

  it('an async authenticate that refused while a user lingers, server closed: exits (the wait held it only meanwhile)', async () => {
    // The wait for authenticate holds the process (its authenticateTimeoutMs on the clock),
    // as a connection does; once it ends with no connection held, the timers are unref'd again.
    const child = start(program('', { asyncAuthenticate: true, closeAtRefusal: true }));
    const [, port] = await child.waitFor(/port (\d+)/);
    const ws = await connect(port as string);
    ws.close();
    await child.waitFor(/disposed closed/); // alice's supervisor lingers; nothing is held
    const { status } = await httpRefusal(`ws://127.0.0.1:${port}/?user=bob`);
    expect(status).toBe(401);
    // While it waited, the timers were ref'd (alice's linger, the authenticateTimeoutMs bound).
    const [, timeouts] = await child.waitFor(/authenticating timeouts (\d+)/);
    expect(Number(timeouts)).toBeGreaterThan(0);
    await child.waitFor(/rejected unauthenticated\nserver closed: lingering 1 timers 1\ndone\n/);
    expect(await exitWithin(child.exited, LINGER_MS / 2)).toBe(0);
  });

  it('await shutdown() with no connection left still prints the line after it', async () => {
    const child = start(program('await supervisor.shutdown();'));
    const [, port] = await child.waitFor(/port (\d+)/);
    const ws = await connect(port as string);
    ws.close();
    expect(await exitWithin(child.exited, LINGER_MS / 2)).toBe(0);
    expect(child.output()).toMatch(/server closed: lingering 1 timers 1\ndone\n/);
  });

  it('await a paced shutdown() with a lingering supervisor still prints the line after it', async () => {
    const child = start(
      program('await supervisor.shutdown({ deadlineMs: 4000, pace: { windowMs: 3000 } });'),
    );
    const [, port] = await child.waitFor(/port (\d+)/);
    const ws = await connect(port as string);
    ws.close();
    expect(await exitWithin(child.exited, LINGER_MS / 2)).toBe(0);
    expect(child.output()).toMatch(/server closed: lingering 1 timers 1\ndone\n/);
  });
});
