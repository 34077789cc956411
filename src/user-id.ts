/** User ids come from the app's authenticate hook; they key the per-user limit. */

export const MAX_USER_ID_LENGTH = 128;

// C0 and C1 control characters and DEL: they corrupt logs and metric labels.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/** Returns why `userId` is unusable, or undefined when it is fine. */
export function checkUserId(userId: unknown): string | undefined {
  if (typeof userId !== 'string') return `user id must be a string, got ${typeof userId}`;
  if (userId.length === 0) return 'user id is empty';
  if (userId.length > MAX_USER_ID_LENGTH) return `user id is longer than ${MAX_USER_ID_LENGTH} characters`;
  if (CONTROL_CHARACTERS.test(userId)) return 'user id contains control characters';
  return undefined;
}
