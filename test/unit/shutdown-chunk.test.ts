/**
 * The test seam of a supervisor's shutdown chunk (src/paced-drain.ts): a chunk must tell at least
 * one connection and wait for its turns with a `Defer`, checked with the options (WSSUP_INVALID_OPTION
 * naming the bad part), and its key is this module's own symbol, not one any app can name.
 */
import { describe, expect, it } from 'vitest';
import { afterWaitingIo } from '../../src/clock.js';
import { createSupervisor, InvalidOptionError } from '../../src/index.js';
import { defaultShutdownChunk, shutdownChunkOf, shutdownChunkOption } from '../../src/paced-drain.js';

function refusal(chunk: unknown): InvalidOptionError {
  try {
    shutdownChunkOf({ [shutdownChunkOption]: chunk });
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return error as InvalidOptionError;
  }
  throw new Error('accepted');
}

describe('shutdownChunkOf', () => {
  it('gives the default without the option, and a frozen copy of a valid chunk', () => {
    expect(shutdownChunkOf({})).toBe(defaultShutdownChunk);
    const chunk = { connections: 1, turn: afterWaitingIo };
    const checked = shutdownChunkOf({ [shutdownChunkOption]: chunk });
    expect(checked).toEqual(chunk);
    expect(Object.isFrozen(checked)).toBe(true);
    chunk.connections = 0; // changed after the check: the copy keeps what was checked
    expect(checked.connections).toBe(1);
  });

  it('is keyed by a symbol of the module, not by the global registry', () => {
    expect(Symbol.keyFor(shutdownChunkOption)).toBeUndefined();
    const chunk = { connections: 1, turn: afterWaitingIo };
    expect(shutdownChunkOf({ [Symbol.for('ws-supervisor.shutdownChunk')]: chunk })).toBe(
      defaultShutdownChunk,
    );
  });

  it.each([null, 'ten', 10, true])('refuses %s as a chunk', (chunk) => {
    expect(refusal(chunk)).toMatchObject({
      code: 'WSSUP_INVALID_OPTION',
      option: 'shutdownChunk',
      received: chunk,
    });
  });

  it.each([0, -1, 1.5, Number.NaN, '10', undefined])('refuses a chunk of %s connections', (connections) => {
    const error = refusal({ connections, turn: afterWaitingIo });
    expect(error).toMatchObject({ option: 'shutdownChunk.connections', received: connections });
    expect(error.message).toMatch(/positive integer/);
  });

  it.each([
    ['no turn', undefined],
    ['a null turn', null],
    ['a function as turn', () => undefined],
    ['a turn without clear', { set: () => 1 }],
    ['a turn whose set is no function', { set: 1, clear: () => undefined }],
  ])('refuses %s', (_, turn) => {
    expect(refusal({ connections: 1, turn })).toMatchObject({ option: 'shutdownChunk.turn', received: turn });
  });

  it('is checked by createSupervisor(), before a supervisor exists', () => {
    expect(() =>
      createSupervisor({
        authenticate: () => null,
        ...{ [shutdownChunkOption]: { connections: 1 } },
      }),
    ).toThrow(InvalidOptionError);
  });
});
