/**
 * The per-user admission rate limit (issue 11, item 7: reconnect storms): a
 * token bucket refilled lazily from the supervisor's clock whenever it is
 * read, so it needs no timer. Its two numbers live on the user's record
 * (books.ts) and are freed with it: a user who holds no connection and whose
 * supervisor no longer lingers starts again with a full bucket.
 */

/** `admissionRate`: tokens per second, and how many the bucket holds. */
export interface AdmissionRate {
  /** Admissions per second a user may sustain (tokens added per second), > 0. */
  perSecond: number;
  /** Admissions a user may make at once (the bucket's size), an integer ≥ 1. */
  burst: number;
}

/** Where one user's bucket is kept (a UserRecord). */
export interface TokenBucket {
  /** Tokens left at `tokensAt`; NaN until the first admission fills the bucket. */
  tokens: number;
  tokensAt: number;
}

/**
 * Takes one token from `bucket` if it has one. Returns 0 when it took one,
 * otherwise how many milliseconds until the next token: nothing is changed
 * and nothing is allocated.
 */
export function takeAdmissionToken(bucket: TokenBucket, rate: AdmissionRate, now: number): number {
  const elapsed = Math.max(0, now - bucket.tokensAt);
  const tokens = Number.isNaN(bucket.tokens)
    ? rate.burst
    : Math.min(rate.burst, bucket.tokens + (elapsed * rate.perSecond) / 1000);
  if (tokens < 1) return Math.ceil(((1 - tokens) * 1000) / rate.perSecond);
  bucket.tokens = tokens - 1;
  bucket.tokensAt = now;
  return 0;
}
