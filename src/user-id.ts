/**
 * User ids come from the app's authenticate hook; they key the per-user limit
 * and appear in logs, metric labels and events. A string id is refused (HTTP 400,
 * `invalid-user-id`) unless it is non-empty, of at most MAX_USER_ID_BYTES
 * bytes in UTF-8, free of the characters below. An id that is not a string is
 * the app's slip: HTTP 500, `auth-failed` (upgrade.ts).
 */
import { types } from 'node:util';
import { describeValue, SupervisorError } from './errors.js';

/**
 * The longest user id, in UTF-8 bytes: what logs, metric labels and stores
 * measure. 128 ASCII characters, 64 two-byte ones (é), 32 emoji.
 */
export const MAX_USER_ID_BYTES = 128;

/**
 * The longest user id, in UTF-8 bytes (128): the same value as {@link MAX_USER_ID_BYTES}.
 *
 * @deprecated Since user ids are measured in UTF-8 bytes, use MAX_USER_ID_BYTES
 * (same value). It never counted characters for anything but UTF-16 units.
 */
export const MAX_USER_ID_LENGTH = MAX_USER_ID_BYTES;

// C0 and C1 control characters and DEL: they corrupt logs and metric labels.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Unicode's Bidi_Control characters (U+061C, U+200E, U+200F, U+202A–U+202E,
 * U+2066–U+2069): they reorder the text around them, so an id can read as
 * another in a log or a dashboard.
 */
const BIDI_CONTROLS = /\p{Bidi_Control}/u;

/** U+2028 and U+2029 end a line for some readers (JavaScript, editors), not for others. */
const LINE_SEPARATORS = /[\u2028\u2029]/;

/**
 * U+FFFD is what a decoder writes for bytes that are not UTF-8 (a query
 * `?user=%FF` decodes to it). Two different byte strings would become the
 * same user, so no id may contain it.
 */
const REPLACEMENT_CHARACTER = '\uFFFD';

/** A lone surrogate is not text: it has no UTF-8 encoding (encoders turn it into U+FFFD). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Characters shown as nothing (Default_Ignorable_Code_Point: U+FEFF from a file that starts
 * with a BOM, U+200B, U+2060, U+00AD, tags…): "alice" and "alice\uFEFF" read the same in
 * a log or a dashboard, yet would be two users with two limits. Except the ones that carry
 * meaning where they stand, checked there by STRAY_JOINER and STRAY_SELECTOR: ZWNJ and ZWJ
 * (emoji sequences, Persian, Indic scripts), U+180E (Mongolian spelling) and the variation
 * selectors (emoji presentation, CJK ideographs, Mongolian). None of these is a
 * Bidi_Control, which is refused above.
 */
const INVISIBLE = /(?!\u200C|\u200D|\u180E|\p{Variation_Selector})\p{Default_Ignorable_Code_Point}/u;

/**
 * The three subdivision flags Unicode recommends (England's, Scotland's, Wales's): U+1F3F4, the
 * tags `gbeng`, `gbsct` or `gbwls`, U+E007F. Their tags are the emoji's own, so they are taken
 * out before the invisible check. Other tags are refused: a platform draws an unknown
 * subdivision as a plain black flag, so each would be one more id that reads as another.
 */
const TAG_SEQUENCE =
  /\u{1F3F4}\u{E0067}\u{E0062}(?:\u{E0065}\u{E006E}\u{E0067}|\u{E0073}\u{E0063}\u{E0074}|\u{E0077}\u{E006C}\u{E0073})\u{E007F}/gu;

/**
 * A joiner (ZWNJ, ZWJ, U+180E) joins two letters of a script that uses it, or two emoji:
 * next to ASCII, at either end or beside another joiner it joins nothing, and "alice\u200D"
 * would be a second "alice". (ASCII is `[ -~]` here: its controls are refused before.) But
 * for one after a virama, which shapes the consonant before it wherever it stands (Malayalam's
 * chillu written NA, virama, ZWJ at a word's end; Sinhala's forms): the viramas of the Indic
 * scripts that use it.
 */
const STRAY_JOINER =
  /(?:^|[ -~]|\u200C|\u200D|\u180E)(?:\u200C|\u200D|\u180E)|(?<![\u094D\u09CD\u0A4D\u0ACD\u0B4D\u0BCD\u0C4D\u0CCD\u0D4D\u0DCA])(?:\u200C|\u200D|\u180E)(?:$|[ -~])/u;

/**
 * A variation selector picks the form of the character before it: at the start, after
 * another selector or after ASCII it selects nothing ("alice\uFE0F"), but for a keycap (a
 * digit, `#` or `*`, then U+FE0F U+20E3: `1️⃣`). `1` U+FE0E reads as `1`: refused too.
 */
const STRAY_SELECTOR =
  /(?:^|\p{Variation_Selector})\p{Variation_Selector}|(?![0-9#*])[ -~]\p{Variation_Selector}|[0-9#*](?!\uFE0F\u20E3)\p{Variation_Selector}/u;

/** Printable ASCII only (U+0020–U+007E): free of every character refused below. */
const PRINTABLE_ASCII = /^[ -~]*$/;

/**
 * Why `userId` cannot be a user id, or undefined when it can: the check every id that
 * `authenticate` returns passes (else HTTP 400, `invalid-user-id`, or 500 `auth-failed` for
 * one that is not a string), and every method that
 * takes one (else `WSSUP_INVALID_ARGUMENT`). A user id is a non-empty string of at most
 * MAX_USER_ID_BYTES bytes in UTF-8, free of controls, Bidi_Control, U+2028/U+2029, U+FFFD,
 * lone surrogates and invisible characters, with joiners and variation selectors only where
 * they join or select something (docs/rules.md, "User ids").
 *
 * @example
 * const problem = userIdProblem(claims.sub); // in authenticate, to log the token's subject
 * @returns e.g. `user id is empty`, `user id contains control characters`; undefined for an id.
 */
export function userIdProblem(userId: unknown): string | undefined {
  if (typeof userId !== 'string') return `user id must be a string, got ${typeof userId}`;
  if (userId.length === 0) return 'user id is empty';
  // Each UTF-16 unit takes at least one byte in UTF-8: a longer string is refused without encoding it.
  if (userId.length > MAX_USER_ID_BYTES || Buffer.byteLength(userId, 'utf8') > MAX_USER_ID_BYTES)
    return `user id is longer than ${MAX_USER_ID_BYTES} bytes in UTF-8`;
  const problem = characterProblem(userId);
  return problem === undefined ? undefined : `user id ${problem}`;
}

/**
 * Why `text` may not name anything that reaches logs, metric labels and
 * dashboards (a user id, a room name), or undefined: "contains …", one of the
 * characters above.
 */
export function characterProblem(text: string): string | undefined {
  // Most ids are printable ASCII (UUIDs, numbers, e-mail addresses), which none of the rules
  // below refuses: one test instead of seven at each admission.
  if (PRINTABLE_ASCII.test(text)) return undefined;
  if (CONTROL_CHARACTERS.test(text)) return 'contains control characters';
  if (BIDI_CONTROLS.test(text)) return 'contains bidirectional control characters';
  if (LINE_SEPARATORS.test(text)) return 'contains a line or paragraph separator';
  if (text.includes(REPLACEMENT_CHARACTER)) return 'contains U+FFFD, the mark of bytes that were not UTF-8';
  if (LONE_SURROGATE.test(text)) return 'contains a lone surrogate (not valid Unicode)';
  if (INVISIBLE.test(text.includes('\u{1F3F4}') ? text.replace(TAG_SEQUENCE, '') : text))
    return 'contains an invisible character (Default_Ignorable_Code_Point, such as U+FEFF or U+200B)';
  if (STRAY_JOINER.test(text) || STRAY_SELECTOR.test(text))
    return 'contains a joiner or variation selector that joins or selects nothing (next to ASCII, at an end, or doubled)';
  return undefined;
}

/**
 * What onError is told when `authenticate` gave a user id that is not a string
 * (a number from a database, `{ id }` for `{ userId }`): the app's slip, never
 * the client's, answered 500 `auth-failed` (which clients retry with backoff,
 * where a 400 would suspend them). An id that is a string but breaks the rules
 * above may come from the request: 400 `invalid-user-id`, not reported.
 */
export function authResultError(auth: unknown, userId: unknown): TypeError {
  // Not `instanceof Refusal` (src/refusal.ts), yet named so: another copy's, which this one cannot honour.
  // An Error of another realm (a vm context) too, as upgrade.ts's isUnhonouredRefusal sends here.
  if ((auth instanceof Error || types.isNativeError(auth)) && (auth as Error).name === 'Refusal') {
    let status: unknown;
    try {
      ({ status } = auth as { status?: unknown });
    } catch {
      status = 'unreadable: its getter threw';
    }
    return new TypeError(
      `authenticate returned a Refusal (status ${describeValue(status)}) of another copy of ws-supervisor ` +
        'that this copy cannot honour (an older version, or a status this version does not know): ' +
        'import Refusal from the ws-supervisor package the server runs',
    );
  }
  const returned =
    typeof auth === 'object' && auth !== null
      ? `${describeValue(auth)} ${withoutUserId(auth) ?? `whose userId is ${describeValue(userId)}`}`
      : describeValue(auth);
  return new TypeError(
    `authenticate returned ${returned}, not a user id: return a string, { userId: string }, null (401) or a Refusal`,
  );
}

/**
 * "without userId (its keys: id, name)" for an object that has no userId at all, the
 * usual slip (`{ id }`, `{ user }`); undefined otherwise. Never throws: a Proxy's
 * traps may, while this error is being built.
 */
function withoutUserId(auth: object): string | undefined {
  try {
    if ('userId' in auth) return undefined;
    const keys = Object.keys(auth);
    const named = keys.slice(0, 5).map((key) => describeValue(key).slice(1, -1));
    const more = keys.length > 5 ? ', …' : '';
    return keys.length === 0
      ? 'without userId (it has no keys)'
      : `without userId (its keys: ${named.join(', ')}${more})`;
  } catch {
    return undefined;
  }
}

/**
 * authenticate's correlation id, kept only when it is a string: it labels the
 * connection's events and logs, never decides anything, so a bad one is left
 * out rather than refusing a user who authenticated. `null` (what
 * `URLSearchParams.get` answers for a missing parameter) is "none"; any other
 * value that is not a string is the app's mistake, returned for onError.
 */
export function correlationIdOf(given: unknown): { correlationId: string | undefined; problem?: TypeError } {
  if (typeof given === 'string') return { correlationId: given };
  if (given === undefined || given === null) return { correlationId: undefined };
  const problem = new TypeError(
    // Not "admitted without one": it is reported before the connection's fate is known,
    // and the user id, a limit or a shutdown may still refuse it.
    `authenticate returned a correlationId that is not a string: ${describeValue(given)}; it was left out, and does not refuse the connection (return a string, null or undefined)`,
  );
  return { correlationId: undefined, problem };
}

/**
 * The error a method throws for a bad user id (WSSUP_INVALID_ARGUMENT), or undefined
 * for a good one. The message names the method, so that the call that got it can be
 * found, and shows the value: quoted, as the other argument errors show a string.
 */
export function userIdArgumentError(method: string, userId: unknown): SupervisorError | undefined {
  const problem = userIdProblem(userId);
  if (problem === undefined) return undefined;
  const shown =
    typeof userId === 'string'
      ? `${problem}, got ${quoteUserId(userId)}`
      : `user id must be a string, got ${describeValue(userId)}`;
  return new SupervisorError('WSSUP_INVALID_ARGUMENT', `${method}: ${shown}`);
}

/** How much of a long id a message shows: enough to recognise it, not a 100 kB log line. */
const SHOWN_UNITS = 64;

/** Characters JSON.stringify leaves as they are but that must not reach a log line raw (as refused above). */
const UNSAFE_IN_MESSAGES = new RegExp(
  `[\\u007f-\\u009f\\u2028\\u2029\\uFFFD]|\\p{Bidi_Control}|${INVISIBLE.source}`,
  'gu',
);

/**
 * A refused id in quotes, with every character it was refused for escaped
 * (JSON.stringify escapes C0 controls and lone surrogates; the rest here), so
 * that the message cannot reorder or split the log line it lands in. A long
 * one is cut, with its size in bytes.
 */
function quoteUserId(userId: string): string {
  const cut = userId.length > SHOWN_UNITS;
  const quoted = JSON.stringify(cut ? userId.slice(0, SHOWN_UNITS) : userId).replace(
    UNSAFE_IN_MESSAGES,
    // Each UTF-16 unit: a tag character (U+E0061) is a surrogate pair, escaped as JSON would.
    (character) =>
      character
        .split('')
        .map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`)
        .join(''),
  );
  return cut ? `${quoted.slice(0, -1)}…" (${Buffer.byteLength(userId, 'utf8')} bytes)` : quoted;
}
