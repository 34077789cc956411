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
