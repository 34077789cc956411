/**
 * README claims of "User ids" that had a test only on userIdProblem() (or none):
 * here through real upgrades to a supervisor on port 0. The refused forms
 * over a socket are in bad-input.test.ts and user-id.test.ts; the metrics'
 * missing user label in readme-claims-metrics.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { AdmittedEvent, AuthResult, RejectedEvent } from '../../src/index.js';
import { userIdProblem } from '../../src/user-id.js';
import {
  allDisposed,
  connect,
  connectRefused,
  expectNoLeaks,
  nextMessage,
  startServer,
} from '../helpers/server.js';

describe('the id is used as is (README: normalise it in authenticate if your provider does not)', () => {
  it('"Alice" and "alice", "é" composed (NFC) and decomposed (NFD) are four users, each with its own limit', async () => {
    const t = await startServer({ maxConnectionsPerUser: 1 });
    const ids = ['Alice', 'alice', '\u00e9', 'e\u0301'];
    const sockets = [];
    for (const id of ids) sockets.push(await connect(t.url(id)));
    expect(t.supervisor.stats()).toMatchObject({ users: 4, connections: 4 });
    for (const id of ids) expect(t.supervisor.userStats(id), JSON.stringify(id)).toMatchObject({ live: 1 });
    // Each is at its limit of 1: none of them borrowed the slot of a look-alike.
    for (const id of ids) expect(await connectRefused(t.url(id)), JSON.stringify(id)).toBe(429);
    for (const ws of sockets) ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('letters of every script, spaces, punctuation and emoji (README: these are fine)', () => {
  it.each([
    ['accents, CJK, Arabic and spaces', 'Zoë 日本語 مستخدم'],
    ['punctuation', "o'brien.smith+tag@example.com (team #3)!"],
    ['an emoji sequence with zero-width joiners', '👩\u200d💻 👨\u200d👩\u200d👧'],
    ['an emoji with its presentation selector, and a zero-width non-joiner', '\u2764\ufe0f می\u200cخواهم'],
    ['32 emoji: 128 bytes in UTF-8, the most there is room for', '👋'.repeat(32)],
    ['128 ASCII characters', 'u'.repeat(128)],
  ])('%s: admitted over a real upgrade, under exactly that id', async (_name, id) => {
    const t = await startServer();
    const admitted: AdmittedEvent[] = [];
    t.supervisor.on('admitted', (event) => admitted.push(event));
    const ws = await connect(t.url(id));
    ws.send('hi');
    expect(await nextMessage(ws)).toBe('hi');
    expect(admitted.map((event) => event.userId)).toEqual([id]);
    expect(t.supervisor.userStats(id)).toMatchObject({ live: 1 });
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('33 emoji (132 bytes) are one too many: HTTP 400, invalid-user-id', async () => {
    const t = await startServer();
    const rejected: RejectedEvent[] = [];
    t.supervisor.on('rejected', (event) => rejected.push(event));
    expect(await connectRefused(t.url('👋'.repeat(33)))).toBe(400);
    expect(rejected).toMatchObject([
      { reason: 'invalid-user-id', status: 400, message: 'user id is longer than 128 bytes in UTF-8' },
    ]);
    expect(t.errors).toEqual([]); // the client's id, not the app's slip: nothing for onError
    expectNoLeaks(t.supervisor);
  });
});

describe('the list of refused characters is the whole list (README: an id is refused unless it is free of …)', () => {
  const listed = (cp: number): string | undefined => {
    if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f)) return 'control characters';
    if (
      [0x061c, 0x200e, 0x200f].includes(cp) ||
      (cp >= 0x202a && cp <= 0x202e) ||
      (cp >= 0x2066 && cp <= 0x2069)
    )
      return 'bidirectional control characters';
    if (cp === 0x2028 || cp === 0x2029) return 'a line or paragraph separator';
    if (cp === 0xfffd) return 'U+FFFD';
    if (cp >= 0xd800 && cp <= 0xdfff) return 'a lone surrogate';
    // Invisible: Default_Ignorable_Code_Point, but for the ones the README allows by name where
    // they join or select something, which between two ASCII letters they never do.
    const allowedInPlace =
      cp === 0x200c ||
      cp === 0x200d ||
      cp === 0x180e ||
      (cp >= 0xfe00 && cp <= 0xfe0f) ||
      (cp >= 0xe0100 && cp <= 0xe01ef) ||
      (cp >= 0x180b && cp <= 0x180d) ||
      cp === 0x180f;
    if (allowedInPlace) return 'a joiner or variation selector that joins or selects nothing';
    if (/\p{Default_Ignorable_Code_Point}/u.test(String.fromCodePoint(cp))) return 'an invisible character';
    return undefined;
  };

  it('every code point from U+0000 to U+10FFFF is refused exactly when the README lists it, and says why', () => {
    const misfits: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      const problem = userIdProblem(`a${String.fromCodePoint(cp)}b`);
      const expected = listed(cp);
      const fits = expected === undefined ? problem === undefined : problem?.includes(expected) === true;
      if (!fits)
        misfits.push(`U+${cp.toString(16).toUpperCase().padStart(4, '0')}: ${problem ?? 'accepted'}`);
    }
    expect(misfits).toEqual([]);
  });
});

describe("an id that is not a string is authenticate's slip (README: a 500 auth-failed, which clients retry, and an AppHookError whose cause says what it returned)", () => {
  it.each<[string, unknown, RegExp]>([
    ['true (a check returned instead of the id)', true, /^authenticate returned true, not a user id/],
    [
      '{ userId: null }',
      { userId: null },
      /^authenticate returned an object whose userId is null, not a user id/,
    ],
    ['a String object', new String('alice'), /^authenticate returned .*, not a user id/],
    ['a bigint', 42n, /^authenticate returned a bigint, not a user id/],
    [
      '{ userId: undefined }',
      { userId: undefined },
      /^authenticate returned an object whose userId is undefined, not a user id/,
    ],
  ])('%s: HTTP 500 auth-failed, and onError hears of it', async (_name, returned, cause) => {
    const t = await startServer({ authenticate: () => returned as AuthResult });
    const rejected: RejectedEvent[] = [];
    t.supervisor.on('rejected', (event) => rejected.push(event));
    expect(await connectRefused(t.url('x'))).toBe(500);
    expect(rejected).toMatchObject([
      { reason: 'auth-failed', status: 500, message: 'authentication failed' },
    ]);
    expect(t.errors).toEqual([
      expect.objectContaining({
        code: 'WSSUP_APP_HOOK_FAILED',
        hook: 'authenticate',
        cause: expect.objectContaining({ name: 'TypeError', message: expect.stringMatching(cause) }),
      }),
    ]);
    expectNoLeaks(t.supervisor);
  });
});
