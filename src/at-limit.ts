/**
 * The `atLimit` policy's values, shared by the option (options.ts) and authenticate's
 * result (auth-result.ts): what an admission does at the user's limit.
 */
import type { AtLimitPolicy } from '../machines/events.js';
import { guessName } from './closest-name.js';

const AT_LIMIT_POLICIES: readonly AtLimitPolicy[] = ['refuse', 'replace-oldest'];

/** `value` is one of the policies. */
export const isAtLimitPolicy = (value: unknown): value is AtLimitPolicy =>
  AT_LIMIT_POLICIES.includes(value as AtLimitPolicy);

/** ` (did you mean 'replace-oldest'?)` for a near miss (`'replace'`), else empty. */
export function atLimitGuess(value: unknown): string {
  const guess = typeof value === 'string' ? guessName(value, AT_LIMIT_POLICIES) : undefined;
  return guess === undefined ? '' : ` (did you mean ${guess.names.map((name) => `'${name}'`).join(' or ')}?)`;
}
