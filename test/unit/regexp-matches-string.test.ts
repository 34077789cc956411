/**
 * The suite's setup (test/setup/regexp-matches-string.ts) makes a RegExp in an expected object
 * match strings. Without it, vitest 4's toMatchObject passes a RegExp against any string, and
 * every `toMatchObject({ message: /…/ })` in the suite checks nothing.
 */
import { describe, expect, it } from 'vitest';

describe('a RegExp in an expected object', () => {
  it('fails toMatchObject against a string it does not match, and passes one it does', async () => {
    expect(() => expect({ message: 'unknown option' }).toMatchObject({ message: /zzz/ })).toThrow();
    expect(() => expect(new Error('unknown option')).toMatchObject({ message: /zzz/ })).toThrow();
    await expect(
      expect(Promise.reject(new Error('unknown option'))).rejects.toMatchObject({ message: /zzz/ }),
    ).rejects.toThrow();
    expect({ message: 'unknown option', code: 'X' }).toMatchObject({ message: /unknown/, code: 'X' });
    expect([{ reason: 'user-limit' }]).toMatchObject([{ reason: /limit$/ }]);
  });

  it('ignores a g or y flag (a stateful test() would alternate between true and false)', () => {
    const global = /limit/g;
    expect({ a: 'limit' }).toMatchObject({ a: global });
    expect({ a: 'limit' }).toMatchObject({ a: global });
  });

  it('still compares two RegExps by source and flags', () => {
    expect({ r: /a/ }).toEqual({ r: /a/ });
    expect(() => expect({ r: /a/ }).toEqual({ r: /b/ })).toThrow();
  });
});
