/** User ids key the per-user limit, logs and metric labels: checkUserId says why one is unusable. */
import { describe, expect, it } from 'vitest';
import { MAX_USER_ID_LENGTH } from '../../src/index.js';
import { checkUserId } from '../../src/user-id.js';

describe('checkUserId', () => {
  it('the documented maximum is 128 characters', () => {
    expect(MAX_USER_ID_LENGTH).toBe(128);
  });

  it.each([
    ['a plain id', 'alice'],
    ['one character', 'u'],
    ['exactly 128 characters', 'u'.repeat(128)],
    ['an e-mail address', 'user@example.com'],
    ['inner spaces', 'a b'],
    ['a UUID', '0190b6a4-3c1e-7d2a-9f00-1234567890ab'],
    ['accents and CJK', 'Zoë 日本語'],
    ['an emoji', 'user 👋'],
    ['128 non-ASCII characters', 'é'.repeat(128)],
    ['a right-to-left name', 'مستخدم'],
  ])('accepts %s', (_name, id) => {
    expect(checkUserId(id)).toBeUndefined();
  });

  it.each<[string, unknown, string]>([
    ['the empty string', '', 'user id is empty'],
    ['129 characters', 'u'.repeat(129), 'user id is longer than 128 characters'],
    ['a very long id', 'u'.repeat(10_000), 'user id is longer than 128 characters'],
    ['NUL (\\u0000)', 'a\u0000', 'user id contains control characters'],
    ['a newline (log injection)', 'alice\nlevel=error', 'user id contains control characters'],
    ['a carriage return', 'a\rb', 'user id contains control characters'],
    ['a tab', 'a\tb', 'user id contains control characters'],
    ['ESC (terminal escapes)', '\u001b[31mred', 'user id contains control characters'],
    ['DEL (\\u007f)', '\u007f', 'user id contains control characters'],
    ['NEL (\\u0085, a C1 control)', 'a\u0085b', 'user id contains control characters'],
    ['\\u009f, the last C1 control', 'a\u009f', 'user id contains control characters'],
    ['a number', 42, 'user id must be a string, got number'],
    ['undefined', undefined, 'user id must be a string, got undefined'],
    ['null', null, 'user id must be a string, got object'],
    ['an object', { userId: 'alice' }, 'user id must be a string, got object'],
    ['a String object', new String('alice'), 'user id must be a string, got object'],
  ])('refuses %s', (_name, id, problem) => {
    expect(checkUserId(id)).toBe(problem);
  });
});
