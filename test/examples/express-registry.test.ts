/**
 * The Express 5 registry example (issue 11, item 1), run as a user runs it:
 * real clients on /ws, and the REST routes that notify one user, broadcast,
 * and kick a user, each answering how many connections it reached.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import WebSocket from 'ws';
import { runProgram } from '../helpers/process.js';
import { startRulesServer } from '../helpers/rules.js';
import { allDisposed, closed, nextMessage } from '../helpers/server.js';

async function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await once(ws, 'open');
  return ws;
}

async function call(url: string, method: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const response = await fetch(
    url,
    body === undefined
      ? { method }
      : { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
  );
  return { status: response.status, json: await response.json() };
}

it('notifies one user, broadcasts, and kicks a user from REST routes, then drains on SIGTERM', async () => {
  const program = runProgram('dist/examples/express-registry.js', ['--port', '0']);
  const [, ws, http] = await program.waitFor(/listening on (ws:\/\/127\.0\.0\.1:(\d+))\/ws/);
  const base = `http://127.0.0.1:${http}`;
  const alice1 = await open(`${ws}/ws?user=alice`);
  const alice2 = await open(`${ws}/ws?user=alice`);
  const bob = await open(`${ws}/ws?user=bob`);

  const listed = await call(`${base}/users/alice/connections`, 'GET');
  expect((listed.json as { connections: string[] }).connections).toHaveLength(2);

  const toAlice = Promise.all([nextMessage(alice1), nextMessage(alice2)]);
  expect(await call(`${base}/users/alice/notify`, 'POST', { message: 'hi alice' })).toEqual({
    status: 200,
    json: { delivered: 2 },
  });
  expect((await toAlice).map((text) => JSON.parse(text))).toEqual([
    { notice: 'hi alice' },
    { notice: 'hi alice' },
  ]);
  expect(await call(`${base}/users/nobody/notify`, 'POST', { message: 'hi' })).toEqual({
    status: 200,
    json: { delivered: 0 },
  });
  expect((await call(`${base}/users/alice/notify`, 'POST', {})).status).toBe(400);

  const toAll = Promise.all([alice1, alice2, bob].map((client) => nextMessage(client)));
  expect(await call(`${base}/broadcast`, 'POST', { message: 'everyone' })).toEqual({
    status: 200,
    json: { delivered: 3 },
  });
  expect((await toAll).map((text) => JSON.parse(text))).toEqual(Array(3).fill({ broadcast: 'everyone' }));

  const kicked = Promise.all([closed(alice1), closed(alice2)]);
  expect(await call(`${base}/users/alice/connections`, 'DELETE')).toEqual({
    status: 200,
    json: { closed: 2 },
  });
  expect(await kicked).toEqual(Array(2).fill({ code: 4403, reason: 'kicked' }));
  expect(await call(`${base}/users/alice/connections`, 'GET')).toEqual({
    status: 200,
    json: { connections: [] },
  });
  // Bob is untouched.
  bob.send('still here');
  expect(await nextMessage(bob)).toBe('still here');

  // A user id the supervisor refuses (over 128 bytes) is answered 400 with its code.
  const bad = await call(`${base}/users/${'x'.repeat(200)}/notify`, 'POST', { message: 'hi' });
  expect(bad).toMatchObject({ status: 400, json: { code: 'WSSUP_INVALID_ARGUMENT' } });

  // The capacity alert: 10 of the production limit of 20 is the 50 % level.
  const carol = [];
  for (let n = 0; n < 10; n += 1) carol.push(await open(`${ws}/ws?user=carol`));
  await program.waitFor(/capacity up: carol holds 10 of 20 \(level 50 %\)/);
  expect(program.output()).not.toMatch(/capacity up: carol holds 9/);
  const gone = Promise.all(carol.map((client) => once(client, 'close')));
  for (const client of carol) client.terminate();
  await gone;

  // Paced shutdown: bob, the only one left, goes in the first batch.
  const closing = closed(bob);
  program.child.kill('SIGTERM');
  expect((await closing).code).toBe(1001);
  expect(await program.exited).toBe(0);
  // The presence log: each user online once. Carol, gone just before the SIGTERM, was within
  // her grace (lingerMs, 5 s) when the shutdown ended it: a deploy tells nobody offline.
  expect(program.output().match(/^online: .*$/gm)).toEqual(['online: alice', 'online: bob', 'online: carol']);
  expect(program.output()).not.toMatch(/^offline: (carol|bob)/m);
}, 30_000);

/**
 * The presence snippet (README, from examples/express-registry.ts#presence), run as written
 * with a real supervisor on simulated time: a reconnect inside lingerMs is no departure, and
 * `offline` comes once the grace has run out.
 */
it('the presence snippet logs a user offline once lingerMs has passed with no connection, not at a reconnect', async () => {
  const source = readFileSync(new URL('../../examples/express-registry.ts', import.meta.url), 'utf8');
  const region = source.match(/\/\/ #region presence\n([\s\S]*?)\/\/ #endregion presence/)?.[1] ?? '';
  const t = await startRulesServer({ lingerMs: 5_000 });
  const lines: string[] = [];
  runInNewContext(region, { supervisor: t.supervisor, console: { log: (line: string) => lines.push(line) } });
  const phone = await t.open('alice');
  const laptop = await t.open('alice');
  phone.ws.close();
  laptop.ws.close();
  await allDisposed(t.supervisor);
  t.clock.increment(4_000);
  const back = await t.open('alice'); // a token rotation, a network switch: within the grace
  back.ws.close();
  await allDisposed(t.supervisor);
  t.clock.increment(4_999);
  expect(lines).toEqual(['online: alice']);
  t.clock.increment(1);
  expect(lines).toEqual(['online: alice', 'offline: alice, no connection for 5000 ms']);
  await t.open('alice');
  expect(lines.at(-1)).toBe('online: alice');
});

/**
 * The capacity snippet (README, from examples/express-registry.ts#capacity), run as written
 * against levels other than the defaults: `level * 100` printed 0.55 as 55.00000000000001 %
 * (ops user trial). The region is plain JavaScript, so it runs here with a stand-in
 * supervisor that hands over its listener, and a console that keeps the lines.
 */
it('the capacity snippet prints a level as a person writes it, 55 % and not 55.00000000000001 %', () => {
  const source = readFileSync(new URL('../../examples/express-registry.ts', import.meta.url), 'utf8');
  const region = source.match(/\/\/ #region capacity\n([\s\S]*?)\/\/ #endregion capacity/)?.[1] ?? '';
  const listeners: ((event: object) => void)[] = [];
  const lines: string[] = [];
  runInNewContext(region, {
    supervisor: { on: (_name: string, listener: (event: object) => void) => void listeners.push(listener) },
    console: { log: (line: string) => void lines.push(line) },
  });
  expect(listeners).toHaveLength(1);
  for (const level of [0.55, 0.07, 0.29, 0.333, 0.8]) {
    listeners[0]?.({ userId: 'carol', direction: 'up', level, live: 11, limit: 20 });
  }
  expect(lines.map((line) => line.match(/\(level (.*)\)$/)?.[1])).toEqual([
    '55 %',
    '7 %',
    '29 %',
    '33.3 %',
    '80 %',
  ]);
});
