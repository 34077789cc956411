/**
 * User ids come from the app's authenticate hook; they key the per-user limit
 * and appear in logs, metric labels and events. An id is refused (HTTP 400,
 * `invalid-user-id`) unless it is a non-empty string of at most
 * MAX_USER_ID_BYTES bytes in UTF-8, free of the characters below.
 */

/**
 * The longest user id, in UTF-8 bytes: what logs, metric labels and stores
 * measure. 128 ASCII characters, 64 two-byte ones (é), 32 emoji.
 */
export const MAX_USER_ID_BYTES = 128;

/**
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

/** Returns why `userId` is unusable, or undefined when it is fine. */
export function checkUserId(userId: unknown): string | undefined {
  if (typeof userId !== 'string') return `user id must be a string, got ${typeof userId}`;
  if (userId.length === 0) return 'user id is empty';
  // Each UTF-16 unit takes at least one byte in UTF-8: a longer string is refused without encoding it.
  if (userId.length > MAX_USER_ID_BYTES || Buffer.byteLength(userId, 'utf8') > MAX_USER_ID_BYTES)
    return `user id is longer than ${MAX_USER_ID_BYTES} bytes in UTF-8`;
  if (CONTROL_CHARACTERS.test(userId)) return 'user id contains control characters';
  if (BIDI_CONTROLS.test(userId)) return 'user id contains bidirectional control characters';
  if (LINE_SEPARATORS.test(userId)) return 'user id contains a line or paragraph separator';
  if (userId.includes(REPLACEMENT_CHARACTER))
    return 'user id contains U+FFFD, the mark of bytes that were not UTF-8';
  if (LONE_SURROGATE.test(userId)) return 'user id contains a lone surrogate (not valid Unicode)';
  return undefined;
}
