/**
 * README, "Admission rate limit": "Every attempt that reaches the user's
 * decision takes a token, those then refused at the user limit included"
 * (admission-rate.test.ts proves that half). The other half: an attempt
 * refused before it reaches the user's decision takes none, so a user is
 * never rate-limited for refusals that were not theirs to spend: an `Origin`
 * not in `allowedOrigins` (refused before `authenticate`), the process-wide
 * `maxConnections`, and the app's own `Refusal` from `authenticate`.
 *
 * The user holds a connection throughout (and lingers), so the bucket the
 * refused attempts would drain is the one the next admission reads. Real
 * sockets; the bucket is read from the SimulatedClock, which stays put.
 */
import { describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import { Refusal } from '../../src/index.js';
import { httpRefusal } from '../helpers/refusals.js';
import { type RulesServer, startRulesServer } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, ioWait, userFromQuery } from '../helpers/server.js';

// Two tokens, and (with the clock still) never another.
const admissionRate = { perSecond: 0.001, burst: 2 };
const lingerMs = 60_000;

/** The second token is still there for amy, and then there is none. */
async function expectOneTokenLeft(t: RulesServer, held: WebSocket[], open = true): Promise<void> {
  if (open) held.push((await t.open('amy')).ws);
  else {
    // The process is full (maxConnections 2): let one of amy's two go, her supervisor stays.
    (held.shift() as WebSocket).close();
    await vi.waitFor(() => expect(t.supervisor.stats().connections).toBe(1), ioWait);
  }
  const spent = await httpRefusal(t.url('amy'));
  expect(spent.status).toBe(429);
  expect(t.events.rejected.at(-1)).toMatchObject({ reason: 'rate-limited', userId: 'amy' });
  for (const ws of held) ws.close();
  await allDisposed(t.supervisor);
  t.clock.increment(lingerMs);
  expectNoLeaks(t.supervisor);
}

describe('an attempt refused before the user’s decision takes no token', () => {
  it('an Origin not allowed', async () => {
    const t = await startRulesServer({ admissionRate, lingerMs, allowedOrigins: ['https://app.example'] });
    const held = [(await t.open('amy')).ws]; // token 1
    for (let i = 0; i < 3; i += 1) {
      expect((await httpRefusal(t.url('amy'), { origin: 'https://evil.example' })).status).toBe(403);
    }
    await expectOneTokenLeft(t, held);
  });

  it('the process-wide limit', async () => {
    const t = await startRulesServer({ admissionRate, lingerMs, maxConnections: 2 });
    const amy = (await t.open('amy')).ws; // token 1
    const zed = (await t.open('zed')).ws; // the process is full
    for (let i = 0; i < 3; i += 1) expect((await httpRefusal(t.url('amy'))).status).toBe(503);
    expect(t.events.rejected.map((event) => event.reason)).toEqual([
      'process-limit',
      'process-limit',
      'process-limit',
    ]);
    zed.close(); // room in the process again
    await vi.waitFor(() => expect(t.supervisor.stats().connections).toBe(1), ioWait);
    // The second token is still there; then zed's slot is free again and amy has no token left.
    const second = (await t.open('amy')).ws;
    await expectOneTokenLeft(t, [amy, second], false);
  });

  it('a Refusal from authenticate', async () => {
    let deny = false;
    const t = await startRulesServer({
      admissionRate,
      lingerMs,
      authenticate: (request) => (deny ? new Refusal(403, 'not now') : userFromQuery(request)),
    });
    const held = [(await t.open('amy')).ws]; // token 1
    deny = true;
    for (let i = 0; i < 3; i += 1) expect((await httpRefusal(t.url('amy'))).status).toBe(403);
    deny = false;
    await expectOneTokenLeft(t, held);
  });
});
