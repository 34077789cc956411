/** The test seam of a supervisor's shutdown chunk (src/paced-drain.ts): a chunk must tell at least one connection. */
import { describe, expect, it } from 'vitest';
import { afterWaitingIo } from '../../src/clock.js';
import { defaultShutdownChunk, shutdownChunkOf, shutdownChunkOption } from '../../src/paced-drain.js';

describe('shutdownChunkOf', () => {
  it('gives the default without the option, and a valid chunk as it is', () => {
    expect(shutdownChunkOf({})).toBe(defaultShutdownChunk);
    const chunk = { connections: 1, turn: afterWaitingIo };
    expect(shutdownChunkOf({ [shutdownChunkOption]: chunk })).toBe(chunk);
  });

  it.each([0, -1, 1.5, Number.NaN, '10'])('refuses a chunk of %s connections', (connections) => {
    expect(() => shutdownChunkOf({ [shutdownChunkOption]: { connections, turn: afterWaitingIo } })).toThrow(
      /positive integer/,
    );
  });
});
