/**
 * README, "Logging every event (pino)": examples/logging.ts "also shows app
 * data, a `Refusal`, `refuse: 'close'` and `admissionRate`". examples.test.ts
 * proves the JSON lines, app data, the Refusal and `refuse: 'close'`; this
 * proves the admission rate limit its comment promises ("reconnect storms:
 * 429 with Retry-After"), as a browser reads it with `refuse: 'close'`: close
 * 4429 with ` retry-after=<s>`, logged as a `rejected` line. The built
 * example, as `npm run example:logging` runs it.
 */
import { once } from 'node:events';
import { pino } from 'pino';
import { expect, it } from 'vitest';
import WebSocket from 'ws';
import { AppHookError } from '../../src/index.js';
import { readPage } from '../helpers/docs.js';
import { runProgram } from '../helpers/process.js';

it('a reconnect storm of one user: past the burst of 5, close 4429 with retry-after=1, logged as rate-limited', async () => {
  const program = runProgram('dist/examples/logging.js', ['--port', '0']);
  const [, url = ''] = await program.waitFor(/listening on (ws:\/\/127\.0\.0\.1:\d+)/);
  // 20 at once: the bucket (5, refilled at 1/s) cannot admit them all unless they took 15 s.
  const storm = Array.from({ length: 20 }, () => new WebSocket(`${url}/?user=storm`));
  const outcomes = await Promise.all(
    storm.map(async (ws) => {
      const greeted = once(ws, 'message').then(([data]) => String(data));
      const [code, reason] = (await Promise.race([
        once(ws, 'close'),
        greeted.then(() => [0, Buffer.from('')]),
      ])) as [number, Buffer];
      return { code, reason: reason.toString() };
    }),
  );
  const admitted = outcomes.filter((outcome) => outcome.code === 0);
  const refused = outcomes.filter((outcome) => outcome.code !== 0);
  expect(admitted.length).toBeGreaterThanOrEqual(5);
  expect(refused.length).toBeGreaterThan(0);
  for (const outcome of refused) {
    expect(outcome.code).toBe(4429);
    expect(outcome.reason).toMatch(/ retry-after=1$/);
  }
  await program.waitFor(/"event":"rejected".*"reason":"rate-limited"/);
  const line = program
    .output()
    .split('\n')
    .filter((text) => text.startsWith('{'))
    .map((text) => JSON.parse(text) as Record<string, unknown>)
    .find((logged) => logged.reason === 'rate-limited');
  expect(line).toMatchObject({ event: 'rejected', status: 429, via: 'close', userId: 'storm' });
  expect(line?.retryAfterMs).toBeGreaterThan(0);
  expect(line?.retryAfterMs).toBeLessThanOrEqual(1_000);

  const closing = storm.filter((ws) => ws.readyState === WebSocket.OPEN).map((ws) => once(ws, 'close'));
  program.child.kill('SIGTERM');
  await Promise.all(closing);
  expect(await program.exited).toBe(0);
});

/**
 * README, "Logging every event (pino)": `userAgent` is what the client sent, and a correlation
 * id what the app read from the request. JSON escapes C0 controls, not C1 ones: U+009B (CSI)
 * reached the log line raw, and some terminals read it as ESC [ (a `tail -f` in colour, or
 * worse). The example's logger escapes them, and DEL, U+2028/2029 and bidi controls, as
 * `\uXXXX`: the line stays JSON that parses back to what was sent.
 */
it('a C1 control in a User-Agent or a correlation id reaches the log line escaped, and parses back', async () => {
  const program = runProgram('dist/examples/logging.js', ['--port', '0']);
  const [, url = ''] = await program.waitFor(/listening on (ws:\/\/127\.0\.0\.1:\d+)/);
  // Node sends a header's characters up to U+00FF as single bytes, and reads them back as latin1.
  const userAgent = 'evil\u009b31m\u0085';
  const refused = new WebSocket(`${url}/?user=banned-1`, { headers: { 'user-agent': userAgent } });
  await once(refused, 'close');
  const rid = 'r\u009b2J\u2028\u202e';
  const admitted = new WebSocket(`${url}/?user=ann&rid=${encodeURIComponent(rid)}`);
  await once(admitted, 'message');
  await program.waitFor(/"event":"admitted"/);
  await program.waitFor(/"event":"rejected"/);
  const output = program.output();
  expect(output).not.toMatch(/[\u007f-\u009f\u2028\u2029\u202e]/);
  const logged = output
    .split('\n')
    .filter((text) => text.startsWith('{'))
    .map((text) => JSON.parse(text) as Record<string, unknown>);
  expect(logged.find((line) => line.event === 'rejected')).toMatchObject({ status: 403, userAgent });
  expect(logged.find((line) => line.event === 'admitted')).toMatchObject({
    userId: 'ann',
    correlationId: rid,
  });
  expect(output).toContain('"userAgent":"evil\\u009b31m\\u0085"');

  const closing = once(admitted, 'close');
  program.child.kill('SIGTERM');
  await closing;
  expect(await program.exited).toBe(0);
});

/**
 * README, "Logging every event (pino)": the event's fields are the log's fields, but the
 * `capacity` event's `level` (0.5, 0.8, 0.9) is logged as `capacityLevel`. Spread as is, it
 * followed pino's own `"level":30` as a second `level` key, the one JSON.parse keeps: the line
 * read as level 0.5, so pino-pretty printed nothing and a level filter dropped exactly the
 * capacity alerts (ops user trial). The production preset's limit is 20: the 10th live
 * connection of one user reaches the first level, 0.5; the admission rate (burst 5, then 1/s)
 * refuses some on the way, and the client retries each after the retry-after it was given.
 */
it('a capacity alert is logged at pino level 30, with its own level as capacityLevel', async () => {
  const program = runProgram('dist/examples/logging.js', ['--port', '0']);
  const [, url = ''] = await program.waitFor(/listening on (ws:\/\/127\.0\.0\.1:\d+)/);
  const open: WebSocket[] = [];
  while (open.length < 10) {
    const ws = new WebSocket(`${url}/?user=cap`);
    const [code, reason] = (await Promise.race([
      once(ws, 'close'),
      once(ws, 'message').then(() => [0, Buffer.from('')]),
    ])) as [number, Buffer];
    if (code === 0) {
      open.push(ws);
      continue;
    }
    // The client's part of the protocol: a 4429 says when to try again.
    expect(code).toBe(4429);
    const seconds = Number(reason.toString().match(/ retry-after=(\d+)$/)?.[1]);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1_000));
  }
  await program.waitFor(/"event":"capacity"/);
  const lines = program
    .output()
    .split('\n')
    .filter((text) => text.startsWith('{'))
    .map((text) => JSON.parse(text) as Record<string, unknown>);
  const capacity = lines.filter((line) => line.event === 'capacity');
  expect(capacity).toEqual([
    expect.objectContaining({
      level: 30,
      msg: 'capacity',
      service: 'chat',
      userId: 'cap',
      direction: 'up',
      capacityLevel: 0.5,
      band: 1,
      live: 10,
      limit: 20,
    }),
  ]);
  // No line repeats a key: the raw line holds pino's `"level":30` and no other `"level":`.
  const raw = program
    .output()
    .split('\n')
    .find((text) => text.includes('"event":"capacity"'));
  expect(raw?.match(/"level":/g)).toEqual(['"level":']);

  const closing = open.map((ws) => once(ws, 'close'));
  program.child.kill('SIGTERM');
  await Promise.all(closing);
  expect(await program.exited).toBe(0);
});

/**
 * README, "Logging every event (pino)": an AppHookError's message already ends with its cause's
 * message (users who log only `err.message` need it), and pino's default `err` serializer appends
 * the cause's message again; the README names the serializer that does not. Both halves, with the
 * installed pino, and the README's words for the fix (ops user trial).
 */
it("pino's err serializer repeats the cause's message; errWithCause, as the README says, does not", () => {
  const readme = readPage('docs/admission.md').replace(/\s+/g, ' ');
  expect(readme).toContain('("App hook onMessage failed: boom: boom")');
  expect(readme).toContain('`serializers: { err: pino.stdSerializers.errWithCause }`');
  const error = new AppHookError('onMessage', new Error('boom'), 'c-1');
  expect(error.message).toBe('App hook onMessage failed: boom');
  const logged = (options: pino.LoggerOptions) => {
    const lines: string[] = [];
    pino(options, { write: (line: string) => void lines.push(line) }).error({ err: error }, error.message);
    return JSON.parse(lines[0] ?? '') as {
      err: { message: string; code: string; cause?: { message: string } };
    };
  };
  expect(logged({}).err.message).toBe('App hook onMessage failed: boom: boom');
  const withCause = logged({ serializers: { err: pino.stdSerializers.errWithCause } });
  expect(withCause.err).toMatchObject({
    message: 'App hook onMessage failed: boom',
    code: 'WSSUP_APP_HOOK_FAILED',
    cause: { message: 'boom' },
  });
});
