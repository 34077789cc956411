/**
 * The URL of one connection attempt. A `url` function is called before every
 * attempt, and may answer with nothing usable for a while (undefined until a
 * token is loaded, a relative path): `String()` made that `"undefined"`, which
 * the WebSocket constructor refused with words of its own. Checked here by the
 * rule the `url` option is checked by, it fails with a typed error that names
 * the value, for the client's `error` event; the attempt still fails as any
 * failed connect does (1006, backed off), since the function may recover.
 *
 * An async function (a token fetched first) answers a thenable: its answer is
 * awaited and checked by the same rule, and its rejection is the function's
 * failure. The socket actor waits for it within the attempt's bounds.
 *
 * The function is given the attempt's context (`{ attempt, lastClose }`): its first call comes
 * inside createClient(), where a hook that read `client.lastClose` met the client's `const`
 * before its initialization (a ReferenceError, reported as the hook's failure and backed off).
 *
 * Every URL, the `url` option's own and each answer alike, gets the client's instance claim
 * (client-instance.ts): its id and the attempt's time. An answer that names the parameter
 * itself fails as a bad answer does (the `url` option's own is refused by createClient()): the
 * client writes it (an id of the app's own is the `instance` option), and one written twice
 * would be refused by the server (400) at every attempt. So does one that names `wssup-heartbeat`
 * (heartbeat-message.ts namesHeartbeatParam), whatever the client asks.
 */
import type { InstanceClaim } from '../../machines/events.js';
import { withInstanceParam } from '../client-instance.js';
import { AppHookError, InvalidOptionError } from '../errors.js';
import { namesHeartbeatParam, withHeartbeatParam } from '../heartbeat-message.js';
import { isThenable } from '../thenable.js';
import {
  type ClientUrlContext,
  isConnectableUrl,
  isRelative,
  namesInstanceParam,
  PAGE_HINT,
  URL_ALLOWED,
  WITHOUT_HEARTBEAT_PARAM,
  WITHOUT_INSTANCE_PARAM,
} from './options.js';

/** What a `url` function may answer, at once or as the value of its Promise. */
const ANSWER_ALLOWED = `a function returning ${URL_ALLOWED}, or a Promise of one`;

/** The error for an answer that is no such URL (a relative path says how a page names its own server). */
const badAnswer = (answer: unknown): InvalidOptionError =>
  new InvalidOptionError('url', isRelative(answer) ? ANSWER_ALLOWED + PAGE_HINT : ANSWER_ALLOWED, answer);

/**
 * The URL with the instance claim in its query (none: as it is), then, for a client that asks
 * for the server's heartbeat offer, `wssup-heartbeat=1` (heartbeat-message.ts).
 */
function withInstance(url: string, claim: InstanceClaim | undefined, asksHeartbeat: boolean): string {
  if (namesHeartbeatParam(url)) throw new InvalidOptionError('url', WITHOUT_HEARTBEAT_PARAM, url);
  let sent = url;
  if (claim !== undefined) {
    if (namesInstanceParam(url)) throw new InvalidOptionError('url', WITHOUT_INSTANCE_PARAM, url);
    sent = withInstanceParam(url, claim);
  }
  return asksHeartbeat ? withHeartbeatParam(sent) : sent;
}

/**
 * The attempt's URL: a string when the function answered one at once (no microtask before
 * the socket), a Promise when it answered a thenable. That Promise rejects with the errors
 * below, never with what the app's promise rejected with, and it always has a rejection
 * handler once the socket actor has it (a late one included).
 * @throws {AppHookError} WSSUP_APP_HOOK_FAILED (hook `url`) when the function throws (or its Promise rejects)
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION (option `url`) for an answer that is not such a URL,
 *   or one that names the instance parameter while the client sends its own, or the heartbeat
 *   offer's request (`wssup-heartbeat`) at all
 */
export function attemptUrl(
  url: (context: ClientUrlContext) => unknown,
  context: ClientUrlContext,
  instance: InstanceClaim | undefined,
  asksHeartbeat = false,
): string | Promise<string> {
  let answer: unknown;
  try {
    answer = url(context);
  } catch (error) {
    throw new AppHookError('url', error);
  }
  if (isConnectableUrl(answer)) return withInstance(String(answer), instance, asksHeartbeat);
  let pending: boolean;
  try {
    pending = isThenable(answer);
  } catch (error) {
    throw new AppHookError('url', error); // a `then` getter that throws: as `await` would reject
  }
  if (!pending) throw badAnswer(answer);
  // Promise.resolve adopts any thenable as `await` does (a `then` that throws rejects it).
  const checked = (resolved: unknown): string => {
    if (!isConnectableUrl(resolved)) throw badAnswer(resolved);
    return withInstance(String(resolved), instance, asksHeartbeat);
  };
  return Promise.resolve(answer).then(checked, (error: unknown) => {
    throw new AppHookError('url', error);
  });
}
