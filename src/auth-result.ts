/**
 * The keys of authenticate's object result. A key it does not know is the
 * app's typo (`expiresAtMs` for `expiresAt`: a session that never ends;
 * `date` for `data`), refused at the upgrade as a wrong-typed known key is
 * (expires-at.ts, user-limit.ts): reported to onError with the key probably
 * meant, and the upgrade answered 500 (`auth-failed`).
 */
import { atLimitGuess, isAtLimitPolicy } from './at-limit.js';
import { guessName, sayGuess } from './closest-name.js';
import { describeValue } from './errors.js';

/** Every key of `{ userId, correlationId?, data?, expiresAt?, maxConnectionsPerUser?, atLimit? }`, in the order of docs/admission.md. */
export const AUTH_RESULT_KEYS: readonly string[] = [
  'userId',
  'correlationId',
  'data',
  'expiresAt',
  'maxConnectionsPerUser',
  'atLimit',
];

/** The most unknown keys a report names, each with its guess: a record spread in by mistake has dozens. */
const NAMED_KEYS = 5;

/**
 * The onError report for an object result with an own enumerable key that is
 * not one of AUTH_RESULT_KEYS (its value undefined too: the typo is there
 * either way), or undefined. Allocates nothing for a result without one: it
 * runs at every admission of an object result.
 */
export function unknownAuthKeysProblem(auth: object): TypeError | undefined {
  let unknown: string[] | undefined;
  for (const key in auth) {
    if (!Object.hasOwn(auth, key) || AUTH_RESULT_KEYS.includes(key)) continue;
    unknown ??= [];
    unknown.push(key);
  }
  if (unknown === undefined) return undefined;
  const named = unknown.slice(0, NAMED_KEYS).map((key) => {
    const guess = guessName(key, AUTH_RESULT_KEYS);
    // Quoted and escaped as describeValue quotes a string: a key may hold anything.
    return `${describeValue(key)}${guess === undefined ? '' : ` (did you mean ${sayGuess(guess.names)}?)`}`;
  });
  const more = unknown.length > NAMED_KEYS ? ` and ${unknown.length - NAMED_KEYS} more` : '';
  const keys = named.length === 1 ? `an unknown key ${named[0]}` : `unknown keys ${named.join(', ')}${more}`;
  return new TypeError(
    `authenticate returned ${keys}; the upgrade was refused (its keys are userId, correlationId, data, expiresAt, maxConnectionsPerUser and atLimit; the app's own values go in data)`,
  );
}

/**
 * The onError report for authenticate's `atLimit`, or undefined when it is usable: undefined
 * (the option's) or one of its values; `'replace-oldest'` not in cluster mode, whose
 * cluster-wide book cannot replace yet. Allocates only for a bad value.
 */
export function atLimitProblem(
  given: unknown,
  clustered: boolean,
  verifiesClient: boolean,
): TypeError | undefined {
  if (given === undefined || given === 'refuse') return undefined;
  if (!isAtLimitPolicy(given)) {
    return new TypeError(
      `authenticate returned atLimit ${describeValue(given)}, which is not 'refuse' or 'replace-oldest'${atLimitGuess(given)}; the upgrade was refused (return one of them, or undefined for the atLimit option)`,
    );
  }
  if (verifiesClient) {
    return new TypeError(
      "authenticate returned atLimit 'replace-oldest', which is not supported with a webSocketServer that has verifyClient (it runs after the old connection was replaced: a newcomer it refused would leave neither); the upgrade was refused (move the check into authenticate, or return 'refuse' or undefined)",
    );
  }
  if (!clustered) return undefined;
  return new TypeError(
    "authenticate returned atLimit 'replace-oldest', which is not supported with cluster yet; the upgrade was refused (return 'refuse' or undefined)",
  );
}
