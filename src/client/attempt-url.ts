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
import { isThenable, onRejection } from '../thenable.js';
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
    // An async function (a token fetched first) answers a Promise, which the attempt cannot
    // wait for. Its rejection is the attempt's to handle, now that it has taken the promise:
    // left alone it went unhandled, which under Node's defaults ends the process.
    let pending = false;
    try {
      pending = isThenable(answer);
      if (pending) onRejection(answer, () => {});
    } catch {
      // A `then` that throws: nothing will settle, so nothing can go unhandled.
    }
    throw new InvalidOptionError(
      'url',
      `a function returning ${URL_ALLOWED}${pending ? ' at once (a Promise is not awaited: keep the token where the function can read it)' : ''}`,
      answer,
    );
  }
  return String(answer);
}
