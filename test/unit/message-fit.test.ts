/**
 * messageFit(): the largest message whose bytes and frame header (ws, as a server: 2 bytes up
 * to 125, 4 up to 65,535, 10 beyond) fit in maxBufferedBytes, at each of the header's steps.
 */
import { describe, expect, it } from 'vitest';
import { assertFits, messageFit } from '../../src/send-arguments.js';

const header = (size: number) => (size <= 125 ? 2 : size <= 65_535 ? 4 : 10);

describe('messageFit', () => {
  it.each([
    1,
    2,
    3,
    100,
    127,
    128,
    129,
    130,
    131,
    200,
    65_538,
    65_539,
    65_540,
    65_545,
    65_546,
    65_547,
    4 * 1024 * 1024,
  ])(
    'maxBufferedBytes %i: the largest message fits with its header, one byte more does not',
    (maxBufferedBytes) => {
      const { bytes, chars } = messageFit(maxBufferedBytes);
      if (bytes >= 0) expect(bytes + header(bytes)).toBeLessThanOrEqual(maxBufferedBytes);
      expect(bytes + 1 + header(bytes + 1)).toBeGreaterThan(maxBufferedBytes);
      expect(3 * chars).toBeLessThanOrEqual(Math.max(bytes, 0));
      const fit = messageFit(maxBufferedBytes);
      if (bytes >= 0) expect(() => assertFits('send', Buffer.alloc(bytes), fit)).not.toThrow();
      expect(() => assertFits('send', Buffer.alloc(bytes + 1), fit)).toThrow(
        expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
      );
      // A string is counted in bytes: as many 2-byte characters as fit, and one more.
      const twoByte = Math.max(Math.floor(bytes / 2), 0);
      if (bytes >= 0) expect(() => assertFits('send', 'é'.repeat(twoByte), fit)).not.toThrow();
      if (2 * (twoByte + 1) > bytes)
        expect(() => assertFits('send', 'é'.repeat(twoByte + 1), fit)).toThrow(
          expect.objectContaining({ message: expect.stringContaining(`of ${2 * (twoByte + 1)} bytes`) }),
        );
    },
  );
});
