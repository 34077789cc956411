/**
 * The URL of one connection attempt. A `url` function is called before every
 * attempt, and may answer with nothing usable for a while (undefined until a
 * token is loaded, a relative path): `String()` made that `"undefined"`, which
 * the WebSocket constructor refused with words of its own. Checked here by the
 * rule the `url` option is checked by, it fails with a typed error that names
 * the value, for the client's `error` event; the attempt still fails as any
 * failed connect does (1006, backed off), since the function may recover.
 */
import { AppHookError, InvalidOptionError } from '../errors.js';
import { isConnectableUrl, URL_ALLOWED } from './options.js';

/**
 * @throws {AppHookError} WSSUP_APP_HOOK_FAILED (hook `url`) when the function throws
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION (option `url`) for an answer that is not such a URL
 */
export function attemptUrl(url: () => unknown): string {
  let answer: unknown;
  try {
    answer = url();
  } catch (error) {
    throw new AppHookError('url', error);
  }
  if (!isConnectableUrl(answer)) {
    throw new InvalidOptionError('url', `a function returning ${URL_ALLOWED}`, answer);
  }
  return String(answer);
}
