/**
 * A RegExp in an expected object matches a string as its words say: `toMatchObject({ message:
 * /limit/ })` checks the message. Without this, vitest 4's toMatchObject takes a RegExp for an
 * object with no keys, a subset of anything, and the line above passes for any message: a
 * test that cannot fail (found in a table of bad arguments whose messages were never checked).
 * toEqual and toStrictEqual already failed on a string against a RegExp; now each compares as
 * `expect.stringMatching` would. Two RegExps still compare as before (source and flags).
 */
import { expect } from 'vitest';

const registered = Symbol.for('ws-supervisor.test.regexp-matches-string');
const scope = globalThis as { [registered]?: true };

// Setup files run before every test file, and files of the shared project share one expect:
// register once per worker, or the list of testers grows with every file.
if (scope[registered] !== true) {
  scope[registered] = true;
  expect.addEqualityTesters([
    function regexpMatchesString(actual: unknown, expected: unknown): boolean | undefined {
      if (typeof actual === 'string' && expected instanceof RegExp)
        return new RegExp(expected.source, expected.flags.replace(/[gy]/g, '')).test(actual);
      if (typeof expected === 'string' && actual instanceof RegExp)
        return new RegExp(actual.source, actual.flags.replace(/[gy]/g, '')).test(expected);
      return undefined;
    },
  ]);
}
