/**
 * closeOfRefusedUpgrade(): the close a refused upgrade stands for, read from
 * the response ws shows (status, status text, Retry-After). Pure: the
 * sockets are in http-refusal.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { closeKindOf, dispositionOf } from '../../machines/client-close.js';
import { closeOfRefusedUpgrade } from '../../src/client/refused-upgrade.js';

const response = (statusCode: number, statusMessage: string, retryAfter?: string | string[]) => ({
  statusCode,
  statusMessage,
  headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter },
});

describe('closeOfRefusedUpgrade', () => {
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
  ])('Retry-After %j → reason ends with %j', (retryAfter, hint) => {
    expect(closeOfRefusedUpgrade(response(429, 'Too Many Requests', retryAfter)).reason).toBe(
      `HTTP 429 Too Many Requests${hint}`,
    );
  });

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

  it('names the status alone when the response has no status text', () => {
    expect(closeOfRefusedUpgrade({ statusCode: 401, statusMessage: '', headers: {} })).toEqual({
      code: 4401,
      reason: 'HTTP 401',
      wasClean: false,
    });
  });
});
