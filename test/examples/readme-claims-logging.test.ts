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
import { expect, it } from 'vitest';
import WebSocket from 'ws';
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
