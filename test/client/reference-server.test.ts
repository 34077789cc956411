/**
 * ws-supervisor/client against the real reference server, run from dist/ as
 * its own process (npm run build first; npm test does), in Node 20 with ws's
 * WebSocket. The client's delays run on a SimulatedClock, so "waits 5 s" is a
 * fact the test checks, not a sleep; the server runs on real time.
 */
import { describe, expect, it } from 'vitest';
import { runProgram } from '../helpers/process.js';
import { expectReleased, messagesOf, startClient, type TestClient } from './helpers.js';

const script = 'dist/examples/reference-server/main.js';

async function startReference(args: string[] = []) {
  const program = runProgram(script, ['--port', '0', '--preset', 'test', ...args]);
  const [, url] = (await program.waitFor(/listening on (ws:\/\/127\.0\.0\.1:\d+)/)) as unknown as [
    string,
    string,
  ];
  const stats = async () =>
    (await (await fetch(`${url.replace('ws:', 'http:')}/stats`)).json()) as {
      connections: number;
      counters: { admitted: number; disposed: number };
    };
  return { program, url, stats };
}

async function echo(t: TestClient, text: string): Promise<void> {
  const from = t.mark();
  expect(t.client.send(text)).toBe(true);
  const { data } = await t.next('message', from);
  expect(String(data)).toBe(text);
}

describe('the client against the reference server', () => {
  it('echoes; on shutdown (1001) waits a jittered delay within the window, then reconnects to the next server', async () => {
    const first = await startReference();
    const second = await startReference();
    let url = `${first.url}/?user=ada`;
    const t = startClient({ url: () => url, shutdownWindowMs: 10_000, random: () => 0.25 });
    await t.next('open');
    expect(t.client.state).toBe('open');
    await echo(t, 'hello');

    url = `${second.url}/?user=ada`; // the load balancer now sends her elsewhere
    const from = t.mark();
    first.program.child.kill('SIGTERM');
    expect(await t.next('close', from)).toMatchObject({
      code: 1001,
      reason: 'server shutting down',
      kind: 'shutdown',
      next: 'reconnect',
    });
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 2_500, attempt: 0 }); // 0.25 × 10 s
    expect(t.client.state).toBe('waiting');
    expect(await first.program.exited).toBe(0);

    t.simulated.increment(2_499);
    expect(t.client.state).toBe('waiting');
    expect((await second.stats()).counters.admitted).toBe(0);
    t.simulated.increment(1);
    await t.next('open', from);
    await echo(t, 'again');
    expect(messagesOf(t)).toEqual(['hello', 'again']);

    t.client.close();
    await expectReleased(t);
    await expect.poll(async () => (await second.stats()).connections).toBe(0);
    second.program.child.kill('SIGTERM');
    expect(await second.program.exited).toBe(0);
  });

  it('when the server is killed (1006), backs off with a growing ceiling and reconnects once one answers', async () => {
    const first = await startReference();
    let url = `${first.url}/?user=bo`;
    const t = startClient({ url: () => url, backoff: { baseMs: 1_000, capMs: 60_000, factor: 2 } });
    await t.next('open');

    let from = t.mark();
    first.program.child.kill('SIGKILL');
    expect(await t.next('close', from)).toMatchObject({ code: 1006, kind: 'abnormal', wasClean: false });
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 500, attempt: 1 }); // 0.5 × 1 s

    // Nobody listens on that port any more: the attempt fails, and the ceiling doubles.
    from = t.mark();
    t.simulated.increment(500);
    expect(await t.next('close', from)).toMatchObject({ code: 1006, kind: 'abnormal' });
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 1_000, attempt: 2 }); // 0.5 × 2 s

    const second = await startReference();
    url = `${second.url}/?user=bo`;
    from = t.mark();
    t.simulated.increment(1_000);
    await t.next('open', from);
    await echo(t, 'back');

    t.client.close();
    await expectReleased(t);
    second.program.child.kill('SIGTERM');
    expect(await second.program.exited).toBe(0);
  });

  it('evicted as idle (4001): suspended, no reconnect however long, until the user is active again', async () => {
    // One connection per user, so T = ceil(0.7 × 1) = 1: an idle connection is evicted at once.
    // The server runs on real time: after the reconnect, the echo must reach it before
    // the connection is idle again, which 200 ms did not leave a loaded 2-core machine.
    const server = await startReference(['--max-per-user', '1', '--idle-timeout-ms', '1000']);
    const t = startClient({ url: `${server.url}/?user=cy` });
    await t.next('open');

    const from = t.mark();
    expect(await t.next('close', from)).toMatchObject({
      code: 4001,
      kind: 'evicted',
      next: 'wait-for-activity',
    });
    expect(t.client.state).toBe('suspended');
    expect(t.clock.pending).toBe(0); // nothing scheduled: only the app can bring it back
    t.simulated.increment(24 * 3_600_000);
    expect(t.client.state).toBe('suspended');
    expect((await server.stats()).counters.admitted).toBe(1);

    t.client.activity();
    await t.next('open', from);
    await echo(t, 'awake');
    expect((await server.stats()).counters.admitted).toBe(2);

    t.client.close();
    await expectReleased(t);
    await expect.poll(async () => (await server.stats()).connections).toBe(0);
    server.program.child.kill('SIGTERM');
    expect(await server.program.exited).toBe(0);
  });

  it("refused at the user limit with refuse: 'close' (4429 retry-after=5): waits at least the hint, then gets in", async () => {
    // One connection per user, held active by a raw client; idle only after a minute.
    const server = await startReference([
      '--max-per-user',
      '1',
      '--idle-timeout-ms',
      '60000',
      '--refuse',
      'close',
    ]);
    const holder = startClient({ url: `${server.url}/?user=di` });
    await holder.next('open');

    const t = startClient({ url: `${server.url}/?user=di`, random: () => 0.5 });
    const close = await t.next('close', 0);
    expect(close).toMatchObject({ code: 4429, retryAfterMs: 5_000, next: 'reconnect' });
    expect(close.reason).toBe('user has reached the maximum number of connections (1)'); // the hint parsed out
    const { delayMs } = await t.next('reconnecting', 0);
    expect(delayMs).toBeGreaterThanOrEqual(5_000);
    expect(t.client.state).toBe('waiting');

    holder.client.close(); // her slot frees up
    await expectReleased(holder);
    await expect.poll(async () => (await server.stats()).connections).toBe(0);
    t.simulated.increment(delayMs - 1);
    expect(t.client.state).toBe('waiting');
    const from = t.mark();
    t.simulated.increment(1);
    await t.next('open', from);
    await echo(t, 'in');

    t.client.close();
    await expectReleased(t);
    server.program.child.kill('SIGTERM');
    expect(await server.program.exited).toBe(0);
  });
});
