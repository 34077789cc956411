/**
 * Mints connection ids: UUID v7 (RFC 9562), time-ordered, one per admission.
 *
 * `uuid`'s own v7() asks the OS for 16 fresh random bytes on every call,
 * which cost 10–18 µs per id here: more than a whole admission decision.
 * This minter draws them from a pool refilled 256 ids at a time, and keeps
 * uuid's ordering rule (a counter that increases within the same millisecond,
 * RFC 9562 §6.2 method 1), which `v7()` drops once it is given the random bytes.
 * One minter per supervisor: no module-level state.
 */
import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

const idsPerRefill = 256;
const bytesPerId = 16;

export function createConnectionIds(now: () => number = Date.now): () => string {
  const pool = new Uint8Array(idsPerRefill * bytesPerId);
  let next = pool.length; // empty: the first call fills it
  let msecs = Number.NEGATIVE_INFINITY;
  let seq = 0;

  return () => {
    if (next === pool.length) {
      randomFillSync(pool);
      next = 0;
    }
    const random = pool.subarray(next, next + bytesPerId);
    next += bytesPerId;
    const time = now();
    if (time > msecs) {
      // A new millisecond: the counter starts at 31 random bits, as in uuid.
      msecs = time;
      seq =
        (((random[6] as number) & 0x7f) << 24) |
        ((random[7] as number) << 16) |
        ((random[8] as number) << 8) |
        (random[9] as number);
    } else {
      seq = (seq + 1) | 0;
      if (seq === 0) msecs += 1; // the counter wrapped: borrow the next millisecond
    }
    return v7({ random, msecs, seq });
  };
}
