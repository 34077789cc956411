/**
 * messageFit(): the largest message whose bytes and frame header (ws, as a server: 2 bytes up
 * to 125, 4 up to 65,535, 10 beyond) fit in maxBufferedBytes, at each of the header's steps,
 * with room left for a heartbeat that comes while it is being written: its ping (2 bytes) and
 * its `heartbeatMessage` frame, when there is one.
 */
import { describe, expect, it } from 'vitest';
import { assertFits, messageFit } from '../../src/send-arguments.js';

const header = (size: number) => (size <= 125 ? 2 : size <= 65_535 ? 4 : 10);

/** The heartbeat's frames: an empty ping, and the keepalive text (at most 125 bytes) when set. */
const heartbeat = (message: string | undefined) =>
  2 + (message === undefined ? 0 : 2 + Buffer.byteLength(message));

const keepalives: [string, string | undefined][] = [
  ['pings only', undefined],
  ['a heartbeatMessage of 2 bytes', 'hb'],
  ['a heartbeatMessage of 125 bytes (in 2-byte characters, one less)', 'é'.repeat(62)],
  ['a heartbeatMessage of 125 bytes', 'k'.repeat(125)],
];

describe.each(keepalives)('messageFit, %s', (_what, heartbeatMessage) => {
  const reserved = heartbeat(heartbeatMessage);
  const steps = [
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
  ];
  it.each([...steps, ...steps.map((step) => step + reserved)])(
    'maxBufferedBytes %i: the largest message fits with its header and the heartbeat, one byte more does not',
    (maxBufferedBytes) => {
      const fit = messageFit(maxBufferedBytes, heartbeatMessage);
      const { bytes, chars } = fit;
      expect(fit.heartbeatBytes).toBe(reserved);
      if (bytes >= 0) expect(bytes + header(bytes) + reserved).toBeLessThanOrEqual(maxBufferedBytes);
      // One byte more; below the heartbeat's own room, even an empty message does not fit.
      const over = Math.max(bytes + 1, 0);
      expect(over + header(over) + reserved).toBeGreaterThan(maxBufferedBytes);
      expect(3 * chars).toBeLessThanOrEqual(Math.max(bytes, 0));
      if (bytes >= 0) expect(() => assertFits('send', Buffer.alloc(bytes), fit)).not.toThrow();
      expect(() => assertFits('send', Buffer.alloc(over), fit)).toThrow(
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
