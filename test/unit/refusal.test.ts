/**
 * The two pure pieces of issue 11's refusals: the close reason (within 123
 * UTF-8 bytes, the message cut at a character, the hint never) and the
 * admission token bucket (refilled from the clock it is given, no timer).
 */
import { describe, expect, it } from 'vitest';
import { takeAdmissionToken } from '../../src/admission-rate.js';
import { closeCodeFor, closeReason, retryAfterSeconds } from '../../src/refusal.js';
import { withoutHints } from '../../src/refusal-text.js';

const hint = / retry-after=(\d+)$/;

describe('closeReason', () => {
  it.each([
    ['a short message, no hint', 'forbidden', undefined, 'forbidden'],
    ['a hint in whole seconds, rounded up', 'too many', 4_001, 'too many retry-after=5'],
    ['a hint of 0', 'now', 0, 'now retry-after=0'],
    ['an empty message', '', 1_000, ' retry-after=1'],
  ])('%s', (_name, message, retryAfterMs, expected) => {
    expect(closeReason(message, retryAfterMs)).toBe(expected);
  });

  it.each([
    ['ASCII', 'x'.repeat(500)],
    ['two-byte characters', 'é'.repeat(100)],
    ['three-byte characters', '€'.repeat(100)],
    ['emoji (surrogate pairs)', '😀'.repeat(60)],
    ['lone surrogates', '\ud800'.repeat(60)],
  ])('cuts a long message of %s at a character, within 123 bytes, keeping the hint', (_name, message) => {
    for (const retryAfterMs of [undefined, 1_000, 2_147_483_647]) {
      const reason = closeReason(message, retryAfterMs);
      expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
      expect(Buffer.byteLength(reason)).toBeGreaterThan(123 - 4); // nothing cut that would have fitted
      if (retryAfterMs !== undefined)
        expect(hint.exec(reason)?.[1]).toBe(String(retryAfterSeconds(retryAfterMs)));
      // The text as sent: a lone surrogate is U+FFFD (3 bytes, as UTF-8 would write it anyway).
      expect(withoutHints(message).startsWith(reason.replace(hint, ''))).toBe(true);
    }
  });

  it('writes a hint of any length as whole digits, at most 2^31 seconds (RFC 9111 §1.2.2)', () => {
    // String(1e21) is '1e+21': neither the client's / retry-after=(\d+)$/ nor HTTP's delay-seconds.
    for (const retryAfterMs of [1e24, Number.MAX_VALUE]) {
      expect(retryAfterSeconds(retryAfterMs)).toBe(2_147_483_648);
      expect(closeReason('busy', retryAfterMs)).toBe('busy retry-after=2147483648');
    }
    expect(retryAfterSeconds(2_147_483_647_000)).toBe(2_147_483_647);
  });

  it('never cuts a surrogate pair in half', () => {
    expect(closeReason('😀'.repeat(60), undefined)).toBe('😀'.repeat(30)); // 4 bytes each: 31 would be 124
    expect(closeReason('😀'.repeat(60), 1_000)).toBe(`${'😀'.repeat(27)} retry-after=1`);
  });

  it('names the reason before the hint, both whole, the message cut to make room', () => {
    expect(closeReason('busy', 5_000, 'user-limit')).toBe('busy refusal=user-limit retry-after=5');
    expect(closeReason('no', undefined, 'refused')).toBe('no refusal=refused');
    // An app's own token is cleaned out: only the server's is read.
    expect(closeReason('x refusal=user-limit REFUSAL=rate-limited', undefined, 'refused')).toBe(
      'x refusal=refused',
    );
    const long = closeReason('é'.repeat(100), 2_147_483_647_000, 'store-unavailable');
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(123);
    expect(long).toMatch(/^é+ refusal=store-unavailable retry-after=2147483647$/);
    expect(hint.exec(long)?.[1]).toBe('2147483647');
  });

  it('maps a status to its close code', () => {
    expect([400, 401, 403, 429, 500, 503].map(closeCodeFor)).toEqual([4400, 4401, 4403, 4429, 4500, 4503]);
  });
});

describe('takeAdmissionToken', () => {
  const rate = { perSecond: 2, burst: 3 };
  const bucket = () => ({ tokens: Number.NaN, tokensAt: 0 });

  it('starts full, takes one token per admission, and says how long until the next one', () => {
    const b = bucket();
    expect([1, 2, 3].map(() => takeAdmissionToken(b, rate, 1_000))).toEqual([0, 0, 0]);
    expect(takeAdmissionToken(b, rate, 1_000)).toBe(500); // 2 per second: one every 500 ms
    expect(takeAdmissionToken(b, rate, 1_200)).toBe(300); // a refusal changes nothing
    expect(takeAdmissionToken(b, rate, 1_500)).toBe(0);
    expect(takeAdmissionToken(b, rate, 1_500)).toBe(500);
  });

  it('refills up to the burst, never beyond', () => {
    const b = bucket();
    takeAdmissionToken(b, rate, 0);
    expect([1, 2, 3].map(() => takeAdmissionToken(b, rate, 60_000))).toEqual([0, 0, 0]);
    expect(takeAdmissionToken(b, rate, 60_000)).toBe(500);
  });

  it('ignores a clock that goes back', () => {
    const b = bucket();
    for (let i = 0; i < 3; i++) takeAdmissionToken(b, rate, 5_000);
    expect(takeAdmissionToken(b, rate, 1_000)).toBe(500);
  });
});
