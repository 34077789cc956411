/**
 * The test seam of a supervisor's shutdown chunk (src/paced-drain.ts): a chunk must tell at least
 * one connection and wait for its turns with a `Defer`, checked with the options (WSSUP_INVALID_OPTION
 * naming the bad part), and it is kept beside the options, not in them: no key an app can see.
 */
import { describe, expect, it } from 'vitest';
import { afterWaitingIo } from '../../src/clock.js';
import { createSupervisor, InvalidOptionError } from '../../src/index.js';
import { defaultShutdownChunk, shutdownChunkOf, withShutdownChunk } from '../../src/paced-drain.js';

function refusal(chunk: unknown): InvalidOptionError {
  try {
    shutdownChunkOf(withShutdownChunk({}, chunk));
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return error as InvalidOptionError;
  }
  throw new Error('accepted');
}

describe('shutdownChunkOf', () => {
  it('gives the default without a chunk, and a frozen copy of a valid chunk, its turn included', () => {
    expect(shutdownChunkOf({})).toBe(defaultShutdownChunk);
    expect(shutdownChunkOf(withShutdownChunk({}, undefined))).toBe(defaultShutdownChunk);
    const calls: string[] = [];
    const turn = {
      set(fn: () => void) {
        calls.push(`set ${this === turn}`);
        return fn;
      },
      clear: () => void calls.push('clear'),
    };
    const chunk = { connections: 1, turn };
    const checked = shutdownChunkOf(withShutdownChunk({}, chunk));
    expect(checked.connections).toBe(1);
    expect(Object.isFrozen(checked)).toBe(true);
    expect(Object.isFrozen(checked.turn)).toBe(true);
    // Changed after the check: the copy keeps what was checked, and calls it as it was called.
    chunk.connections = 0;
    turn.set = () => {
      throw new Error('changed after the check');
    };
    turn.clear = () => undefined;
    checked.turn.clear(checked.turn.set(() => undefined));
    expect(checked.connections).toBe(1);
    expect(calls).toEqual(['set true', 'clear']);
  });

  // The seam was a symbol key among the options: createSupervisor() read it through them, so an
  // app passing a Proxy saw the symbol in its `get` trap, and could answer it with a chunk.
  it('is kept beside the options: a Proxy as options sees no key of it, and cannot give a chunk', async () => {
    const symbols: symbol[] = [];
    const options = new Proxy(
      { authenticate: () => null },
      {
        get(target, key, receiver) {
          if (typeof key === 'symbol') symbols.push(key);
          return Reflect.get(target, key, receiver);
        },
        has(target, key) {
          if (typeof key === 'symbol') symbols.push(key);
          return Reflect.has(target, key);
        },
      },
    );
    const supervisor = createSupervisor(options);
    await supervisor.shutdown();
    expect(symbols).toEqual([]);
    const chunk = { connections: 1, turn: afterWaitingIo };
    const answering = new Proxy({}, { get: (_, key) => (typeof key === 'symbol' ? chunk : undefined) });
    expect(shutdownChunkOf(answering)).toBe(defaultShutdownChunk);
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
      createSupervisor(withShutdownChunk({ authenticate: () => null }, { connections: 1 })),
    ).toThrow(InvalidOptionError);
  });
});
