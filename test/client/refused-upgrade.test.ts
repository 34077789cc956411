/**
 * closeOfRefusedUpgrade(): the close a refused upgrade stands for, read from
 * the response ws shows (status, status text, Retry-After). Pure: the
 * sockets are in http-refusal.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  closeKindOf,
  closeMessageOf,
  dispositionOf,
  refusalOf,
  retryAfterMsOf,
} from '../../machines/client-close.js';
import { closeOfRefusedUpgrade } from '../../src/client/refused-upgrade.js';

const response = (statusCode: number, statusMessage: string, retryAfter?: string | string[]) => ({
  statusCode,
  statusMessage,
  headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter },
});

describe('closeOfRefusedUpgrade', () => {
  it.each([
    ['user-limit', 'user-limit'],
    [' rate-limited ', 'rate-limited'],
    ['a-newer-word', 'a-newer-word'],
    // Not a word the server writes: no reason (a proxy's header cannot push the words off).
    ['User-Limit', undefined],
    ['user limit', undefined],
    ['x'.repeat(33), undefined],
    ['', undefined],
    [['user-limit', 'refused'], undefined],
  ])('WS-Supervisor-Refusal %j → refusal %j, a field of its own, never in the words', (header, refusal) => {
    const close = closeOfRefusedUpgrade(
      {
        statusCode: 429,
        statusMessage: 'Too Many Requests',
        headers: { 'ws-supervisor-refusal': header, 'retry-after': '5' },
      },
      undefined,
      'é'.repeat(100),
    );
    expect(close.refusal).toBe(refusal);
    // The reason is the words and the hint alone, whatever the header: the words get all the room.
    expect(close.reason).toBe(`HTTP 429 Too Many Requests: ${'é'.repeat(40)} retry-after=5`);
    expect(new TextEncoder().encode(close.reason).length).toBeLessThanOrEqual(123);
    expect(refusalOf(close.reason, close.code)).toBeUndefined();
    expect(closeMessageOf(close.reason, close.code)).toMatch(/^HTTP 429 Too Many Requests: é+$/);
  });

  it('a 500 (no twin, read as 1006) gives its header as the field: its reason names no refusal', () => {
    const close = closeOfRefusedUpgrade(
      {
        statusCode: 500,
        statusMessage: 'Internal Server Error',
        headers: { 'ws-supervisor-refusal': 'internal-error' },
      },
      undefined,
      'internal error',
    );
    expect(close).toEqual({
      code: 1006,
      reason: 'HTTP 500 Internal Server Error: internal error',
      wasClean: false,
      refusal: 'internal-error',
    });
  });

  it.each([
    [400, 'Bad Request', 4400, 'bad-request', 'suspend-until-resumed'],
    [401, 'Unauthorized', 4401, 'unauthenticated', 'suspend-until-resumed'],
    [403, 'Forbidden', 4403, 'forbidden', 'suspend-until-resumed'],
    [429, 'Too Many Requests', 4429, 'too-many-requests', 'backoff'],
    [503, 'Service Unavailable', 4503, 'unavailable', 'backoff'],
    // No twin: a failed connection, as before (a 500 may be any server's, not a failed authenticate).
    [404, 'Not Found', 1006, 'abnormal', 'backoff'],
    [500, 'Internal Server Error', 1006, 'abnormal', 'backoff'],
    [502, 'Bad Gateway', 1006, 'abnormal', 'backoff'],
    [302, 'Found', 1006, 'abnormal', 'backoff'],
  ])('%i %s → %i (%s, %s)', (status, text, code, kind, disposition) => {
    const close = closeOfRefusedUpgrade(response(status, text));
    expect(close).toEqual({ code, reason: `HTTP ${status} ${text}`, wasClean: false });
    expect([closeKindOf(close.code), dispositionOf(close.code)]).toEqual([kind, disposition]);
  });

  it.each([
    ['5', ' retry-after=5'],
    [' 007 ', ' retry-after=7'],
    ['0', ' retry-after=0'],
    // Capped as the server caps its own: longer would print as 1e+21 and be lost.
    ['99999999999999999999999', ` retry-after=${2 ** 31}`],
    // Not delay-seconds nor an HTTP-date: no hint (a fraction, a negative number, garbage).
    ['1.5', ''],
    ['-1', ''],
    ['soon', ''],
    ['', ''],
    [['5', '6'], ''], // not a header Node gives as a list, but not a hint either
  ])('Retry-After %j → reason ends with %j, as the field says', (retryAfter, hint) => {
    const close = closeOfRefusedUpgrade(response(429, 'Too Many Requests', retryAfter));
    expect(close.reason).toBe(`HTTP 429 Too Many Requests${hint}`);
    expect(close.retryAfterMs).toBe(retryAfterMsOf(close.reason, close.code));
  });

  // Review: the machine reads no hint from a 1006's reason (the client's own words on any other
  // failed connect): a refused upgrade with no twin gives its Retry-After as the field alone.
  it.each([
    [500, 'Internal Server Error', '9', 9_000],
    [502, 'Bad Gateway', 'Wed, 21 Oct 2015 07:28:00 GMT', 60_000],
    [404, 'Not Found', '99999999999999999999999', 2 ** 31 * 1000],
  ])(
    "a %i %s with Retry-After %j: 1006, the hint the field's, never in its reason",
    (status, text, retryAfter, ms) => {
      const close = closeOfRefusedUpgrade(
        response(status, text, retryAfter),
        Date.UTC(2015, 9, 21, 7, 27, 0),
        'é'.repeat(100),
      );
      const words = `HTTP ${status} ${text}: `;
      // The words get all 123 bytes, the room a hint in the reason would have taken.
      expect(close).toEqual({
        code: 1006,
        reason: `${words}${'é'.repeat((123 - words.length) >> 1)}`,
        wasClean: false,
        refusal: undefined,
        retryAfterMs: ms,
      });
      expect(retryAfterMsOf(close.reason, close.code)).toBeUndefined();
    },
  );

  it.each([
    // An HTTP-date (a proxy's 503, say), read against the wall clock: the seconds until then, rounded up.
    ['Wed, 21 Oct 2015 07:28:00 GMT', Date.UTC(2015, 9, 21, 7, 27, 0), ' retry-after=60'],
    ['Wed, 21 Oct 2015 07:28:00 GMT', Date.UTC(2015, 9, 21, 7, 27, 59, 500), ' retry-after=1'],
    // A date already past: retry now, as Retry-After: 0.
    ['Wed, 21 Oct 2015 07:28:00 GMT', Date.UTC(2015, 9, 21, 8, 0, 0), ' retry-after=0'],
    // The obsolete date forms, and dates that are not dates, give no hint.
    ['Wednesday, 21-Oct-15 07:28:00 GMT', Date.UTC(2015, 9, 21, 7, 27, 0), ''],
    ['Wed Oct 21 07:28:00 2015', Date.UTC(2015, 9, 21, 7, 27, 0), ''],
    ['Wed, 99 Oct 2015 07:28:00 GMT', Date.UTC(2015, 9, 21, 7, 27, 0), ''],
  ])('Retry-After %j at %d → reason ends with %j', (retryAfter, wallNowMs, hint) => {
    expect(closeOfRefusedUpgrade(response(503, 'Service Unavailable', retryAfter), wallNowMs).reason).toBe(
      `HTTP 503 Service Unavailable${hint}`,
    );
  });

  // A close frame's reason holds 123 bytes: the hint is kept whole, the status text cut to the
  // room left, then the message, at a character's boundary (no half of a UTF-8 sequence, no
  // half of a surrogate pair), so that an app can pass the reason on to a close().
  it.each([
    [
      'a 122-byte message under a 429 with the longest hint',
      response(429, 'Too Many Requests', '2147483648'),
      'é'.repeat(61),
      `HTTP 429 Too Many Requests: ${'é'.repeat(36)} retry-after=2147483648`,
    ],
    [
      "a proxy's 10 KB status text, and a message",
      response(502, 'x'.repeat(10_000)),
      'token expired',
      `HTTP 502 ${'x'.repeat(114)}`,
    ],
    [
      'a status text of 2-byte characters (Node reads it as Latin-1), cut between two',
      response(503, `a${'é'.repeat(200)}`, '5'),
      '',
      `HTTP 503 a${'é'.repeat(49)} retry-after=5`,
    ],
    [
      'a message of surrogate pairs (4 bytes each in UTF-8), cut between two',
      response(401, 'Unauthorized'),
      `x${'😀'.repeat(40)}`,
      `HTTP 401 Unauthorized: x${'😀'.repeat(24)}`,
    ],
  ])('%s: the reason within 123 bytes', (_, refused, message, reason) => {
    const close = closeOfRefusedUpgrade(refused, Date.now(), message);
    expect(close.reason).toBe(reason);
    expect(Buffer.byteLength(close.reason)).toBeLessThanOrEqual(123);
  });

  it('names the status alone when the response has no status text', () => {
    expect(closeOfRefusedUpgrade({ statusCode: 401, statusMessage: '', headers: {} })).toEqual({
      code: 4401,
      reason: 'HTTP 401',
      wasClean: false,
    });
  });

  // A handshake replaced by a newer login of its user (atLimit: 'replace-oldest') is refused with
  // 403 `evicted: replaced`: read as the close after the handshake, 4001, that waits for resume().
  // As 4403 an app would answer with a new token and resume(), and replace the newer login.
  it("403 whose body is exactly 'evicted: replaced' → 4001 'evicted: replaced' (wait-for-resume)", () => {
    const close = closeOfRefusedUpgrade(response(403, 'Forbidden'), Date.now(), 'evicted: replaced');
    expect(close).toEqual({ code: 4001, reason: 'evicted: replaced', wasClean: false });
    expect([closeKindOf(close.code), dispositionOf(close.code, close.reason)]).toEqual([
      'evicted',
      'suspend-until-resumed',
    ]);
  });

  it.each([
    [403, 'evicted: replaced!'],
    [403, 'Evicted: replaced'],
    [403, 'evicted: superseded'],
    [401, 'evicted: replaced'],
    [503, 'evicted: replaced'],
  ])(
    '%i with the body %j stays its twin (only a 403 saying exactly that is a replacement)',
    (status, message) => {
      expect(closeOfRefusedUpgrade(response(status, 'Text'), Date.now(), message).code).toBe(4000 + status);
    },
  );
});
