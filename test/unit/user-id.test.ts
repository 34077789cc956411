import { describe, expect, it } from 'vitest';
import { checkUserId } from '../../src/user-id.js';

describe('checkUserId', () => {
  it.each([['alice'], ['u'.repeat(128)], ['Zoë 日本 👋'], ['user@example.com'], ['a b']])(
    'accepts %j',
    (id) => {
      expect(checkUserId(id)).toBeUndefined();
    },
  );

  it.each([
    ['', 'user id is empty'],
    ['u'.repeat(129), 'user id is longer than 128 characters'],
    ['a\nb', 'user id contains control characters'],
    ['a\u0000', 'user id contains control characters'],
    ['\u007f', 'user id contains control characters'],
    ['a\u0085b', 'user id contains control characters'],
    [42, 'user id must be a string, got number'],
    [undefined, 'user id must be a string, got undefined'],
  ])('refuses %j: %s', (id, problem) => {
    expect(checkUserId(id)).toBe(problem);
  });
});
