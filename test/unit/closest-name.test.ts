/**
 * guessName's "did you mean" (src/closest-name.ts): the known name a typo was meant to be,
 * and nothing for a name no known one is close to, however long (an authenticate result may
 * carry a client's key, of any length).
 */
import { describe, expect, it } from 'vitest';
import { guessName } from '../../src/closest-name.js';

const AUTH_KEYS = ['userId', 'correlationId', 'data', 'expiresAt', 'maxConnectionsPerUser'];

describe('guessName', () => {
  it.each([
    ['expiresAtMs', ['expiresAt'], true],
    ['maxConnectionPerUser', ['maxConnectionsPerUser'], true],
    ['date', ['data'], true],
    ['userid', ['userId'], true],
    ['expires', ['expiresAt'], true],
  ])('%s: %j', (name, names, sure) => {
    expect(guessName(name, AUTH_KEYS)).toEqual({ names, sure });
  });

  it.each([
    ['plan', 'a short name close to none'],
    ['x'.repeat(40), 'longer than any known name by more edits than it may take'],
    [`${'expiresAt'}${'z'.repeat(200_000)}`, 'a known name followed by 200,000 characters'],
  ])('%#: nothing (%s)', (name) => {
    expect(guessName(name, AUTH_KEYS)).toBeUndefined();
  });
});
