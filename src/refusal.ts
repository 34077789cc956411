/**
 * Refusals the app controls: the `Refusal` that `authenticate` returns or
 * throws, and the wording shared by both ways of delivering a refusal (an
 * HTTP answer, or a close frame with `refuse: 'close'`). The close codes and
 * the `retry-after=<seconds>` hint are a contract with the client helper.
 */
import { STATUS_CODES } from 'node:http';
import { describeValue, SupervisorError } from './errors.js';
import type { RejectReason } from './events.js';
import { withoutHints } from './refusal-text.js';
import { userIdProblem } from './user-id.js';

/** The statuses an app may refuse with. */
export type RefusalStatus = 401 | 403 | 429 | 503;

const refusalStatuses: ReadonlySet<number> = new Set([401, 403, 429, 503]);

/** Largest close reason RFC 6455 allows (a control frame carries 125 bytes, 2 of them the code). */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * A refusal chosen by the app: return it from `authenticate`, or throw it.
 * The client gets that status (HTTP, or close code 4000 + status with
 * `refuse: 'close'`) with the message, and `Retry-After` when there is a hint.
 * The `rejected` event says `reason: 'refused'` with the status.
 *
 * @param status 401, 403, 429 or 503.
 * @param message What the client reads (the HTTP body, followed by a newline; the close reason, cut to
 *   fit 123 bytes), on one line: runs of control and format characters (newline, tab, a bidi override
 *   such as U+202E, a zero-width space) and U+2028/U+2029 are sent as a space, a `retry-after=<digits>`
 *   or `refusal=<word>` of its own is left out (only `retryAfterMs` gives a hint, and the close reason
 *   ends with the server's own ` refusal=refused`), whitespace is collapsed and trimmed.
 *   `refusal.message` keeps it as given, for the app's logs. @default the status text, e.g. `Forbidden`
 * @param options.retryAfterMs When the client may try again; sent as `Retry-After` (seconds, rounded up).
 *   A 429 or 503 without it gets the `retryAfterMs.refused` option's default.
 * @param options.cause What made the app refuse (a database down, say), kept as an Error's `cause`.
 * @param options.userId The user refused, when the app knows it (a tenant suspended, a plan over
 *   its quota): the `rejected` event's `userId`, for logs and audits. It never reaches the client
 *   and books nothing. One that is not a user id (a string that breaks the rules of user ids,
 *   docs/rules.md, "User ids", or no string at all), which may come from the request (a token's subject),
 *   does not throw: where the refusal is sent, it is left out of the event (userId undefined) and
 *   reported to onError as an `AppHookError` (hook `authenticate`), and the client still gets the
 *   status the app chose. So is one changed after the refusal was made.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for another status, a message that is not a
 *   string, a `retryAfterMs` that is not a finite number ≥ 0, or options that are not an object
 *   or have another key (`{ retryAfter: 5 }`).
 * @example
 * ```ts
 * authenticate: async (request) => {
 *   const claims = await verify(request);
 *   if (claims === null) return null; // 401
 *   if (claims.banned) return new Refusal(403, 'account suspended', { userId: claims.sub });
 *   return { userId: claims.sub, data: { plan: claims.plan } };
 * }
 * ```
 */
export class Refusal extends Error {
  /** The HTTP status the client is refused with (close code 4000 + it with `refuse: 'close'`). */
  readonly status: RefusalStatus;
  /** The retry hint (`Retry-After`) in ms, as given; undefined for the configured default (429, 503) or none. */
  readonly retryAfterMs: number | undefined;
  /** The user refused, as given (the `rejected` event's `userId`); undefined when the app gave none. */
  readonly userId: string | undefined;

  constructor(
    status: RefusalStatus,
    message?: string,
    options: { retryAfterMs?: number | undefined; cause?: unknown; userId?: string | undefined } = {},
  ) {
    // The options are checked too: `{ retryAfter: 5 }` or a bare 5000 was dropped in silence,
    // and the client got no Retry-After.
    const badOptions = optionsProblem(options);
    if (badOptions !== undefined) throw new SupervisorError('WSSUP_INVALID_ARGUMENT', badOptions);
    const { retryAfterMs, userId } = options;
    // The userId is not checked here: it may come from the request (a token's subject that
    // failed verification: a string that breaks the id rules, a number, null), and a throw in
    // authenticate was a 500 that the client retried for ever, not the app's 401. Where the
    // refusal is sent, a bad one is dropped and reported (checkedRefusalFields).
    const problem = refusalProblem(status, message, retryAfterMs);
    if (problem !== undefined) throw new SupervisorError('WSSUP_INVALID_ARGUMENT', problem);
    // `cause` as Error's own options take it (what made the app refuse: a database down, say).
    super(
      message ?? STATUS_CODES[status] ?? 'refused',
      'cause' in options ? { cause: options.cause } : undefined,
    );
    this.name = 'Refusal';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
    this.userId = userId;
    Object.defineProperty(this, REFUSAL_MARK, { value: REFUSAL_SHAPE });
  }

  /**
   * True for a Refusal of this copy of ws-supervisor, and for one of another
   * copy in the process (two versions in node_modules, a bundle beside the
   * package) that this copy can honour: the app's `instanceof Refusal` checks
   * and ours agree, whichever copy the app imported it from.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // `this` is the class on the right of instanceof: Refusal or an app's subclass, which inherits this.
    // biome-ignore lint/complexity/noThisInStatic: the class asked about, as above
    const asked = this;
    if (Function.prototype[Symbol.hasInstance].call(asked, value)) return true;
    // A subclass is the app's own: only the plain Refusal means the same to every copy.
    return asked === Refusal && isForeignRefusal(value);
  }
}

/**
 * The mark every copy's constructor sets: `Symbol.for` gives each copy the same
 * symbol, where each has its own class. Its value names the shape a copy relies
 * on (status, message, retryAfterMs as here); a later shape takes another value.
 * `userId`, optional, came later in the same shape: a copy without it ignores it.
 */
const REFUSAL_MARK = Symbol.for('ws-supervisor.Refusal');
const REFUSAL_SHAPE = 1;

/**
 * Another copy's Refusal whose status, message and retryAfterMs pass this copy's rules (a later
 * version may allow more). Its userId decides nothing here: a bad one is dropped where the
 * refusal is sent (checkedRefusalFields), as this copy's own is; the client gets the status.
 */
function isForeignRefusal(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const refusal = value as {
    [REFUSAL_MARK]?: unknown;
    status?: unknown;
    message?: unknown;
    retryAfterMs?: unknown;
  };
  // Plain instanceof never read the value; these reads may throw (a "strict" Proxy's trap, a
  // getter), on authenticate's answer or what it threw: such a value is no Refusal, as
  // error-brand.ts decides for the error classes. Not a WSSUP_INTERNAL 500 for a valid user.
  try {
    return (
      refusal[REFUSAL_MARK] === REFUSAL_SHAPE &&
      typeof refusal.message === 'string' &&
      refusalProblem(refusal.status, refusal.message, refusal.retryAfterMs) === undefined
    );
  } catch {
    return false;
  }
}

/**
 * This Refusal's fields, or what is wrong with them now: JavaScript ignores
 * `readonly`, so a field changed after the constructor checked it (an HTTP 200 to
 * an upgrade, `Retry-After: NaN`) is checked again where the refusal is sent.
 * A userId that is not a user id (a string that breaks the rules, or anything
 * changed after) refuses nothing: it is left out, with `userIdProblem` saying why,
 * for onError, and the refusal is sent with the status the app chose.
 */
export function checkedRefusalFields(refusal: Refusal):
  | {
      status: RefusalStatus;
      message: string;
      retryAfterMs: number | undefined;
      userId: string | undefined;
      userIdProblem?: string;
      problem?: undefined;
    }
  | { problem: string } {
  // Each field read once: what is checked is what is sent. A getter that answers 401 to
  // the check and 418 afterwards would otherwise reach the client as HTTP 418.
  const { status, message, retryAfterMs, userId } = refusal as {
    status: unknown;
    message: unknown;
    retryAfterMs: unknown;
    userId: unknown;
  };
  const problem = refusalProblem(status, message, retryAfterMs);
  if (problem !== undefined) return { problem };
  const badUserId = userId === undefined ? undefined : userIdProblem(userId);
  return {
    status: status as RefusalStatus,
    // As the constructor defaults it: a message that reads as undefined (a subclass's getter)
    // is the status text, not an empty body.
    message: typeof message === 'string' ? message : (STATUS_CODES[status as number] ?? 'refused'),
    retryAfterMs: retryAfterMs as number | undefined,
    userId: badUserId === undefined ? (userId as string | undefined) : undefined,
    ...(badUserId === undefined ? {} : { userIdProblem: badUserId }),
  };
}

/** What is wrong with a Refusal's options argument, or undefined: an object whose keys are all known. */
function optionsProblem(options: unknown): string | undefined {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    return `a Refusal's options must be an object such as { retryAfterMs: 5000 }, got ${describeValue(options)}`;
  }
  const unknown = Object.keys(options).find(
    (key) => key !== 'retryAfterMs' && key !== 'cause' && key !== 'userId',
  );
  if (unknown !== undefined)
    return `a Refusal's options: unknown key ${unknown}, expected retryAfterMs, cause or userId`;
  return undefined;
}

/** What is wrong with the fields a Refusal's client reads, or undefined (its userId: checkedRefusalFields). */
function refusalProblem(status: unknown, message: unknown, retryAfterMs: unknown): string | undefined {
  if (typeof status !== 'number' || !refusalStatuses.has(status)) {
    return `a Refusal's status must be 401, 403, 429 or 503, got ${describeValue(status)}`;
  }
  if (message !== undefined && typeof message !== 'string') {
    // The options in the message's place: new Refusal(429, { retryAfterMs }) dropped the message argument.
    const options =
      typeof message === 'object' && message !== null && 'retryAfterMs' in message
        ? ' (options go third: new Refusal(status, undefined, { retryAfterMs }))'
        : '';
    return `a Refusal's message must be a string, got ${describeValue(message)}${options}`;
  }
  if (retryAfterMs !== undefined && !isDuration(retryAfterMs)) {
    return `a Refusal's retryAfterMs must be a finite number of milliseconds >= 0, got ${describeValue(retryAfterMs)}`;
  }
  return undefined;
}

const isDuration = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0;

/**
 * The most a hint says: 2^31 seconds (68 years), the value RFC 9111 §1.2.2 gives any
 * larger delta-seconds. Above 1e21, a number prints as `1e+21`, which neither HTTP's
 * delay-seconds nor the client's `/ retry-after=(\d+)$/` reads: the hint would be lost.
 */
const MAX_RETRY_AFTER_SECONDS = 2 ** 31;

/** `Retry-After` in whole seconds, rounded up (RFC 9110 §10.2.3 allows no fraction), at most 2^31. */
export const retryAfterSeconds = (ms: number): number =>
  Math.min(Math.ceil(ms / 1000), MAX_RETRY_AFTER_SECONDS);

/** The close code that carries an HTTP status: 4000 + status (4401, 4403, 4429, 4503…). */
export const closeCodeFor = (status: number): number => 4000 + status;

/**
 * A close reason within 123 UTF-8 bytes: the message as withoutHints() leaves it (one line, no
 * control or format character, no `retry-after=<digits>` or `refusal=<word>` of its own), cut at
 * a character boundary if it must be, then ` refusal=<reason>` when the refusal is the library's
 * (the `rejected` event's reason), then ` retry-after=<seconds>` when there is a hint. Neither is
 * ever cut: clients parse the hint with `/ retry-after=(\d+)$/` (so it stays last, for clients
 * that know no token) and the reason with the token before it. Cleaned before the cut, so the cut
 * counts the bytes sent; the real tokens appended after, so they are the only ones a client reads.
 */
export function closeReason(
  message: string,
  retryAfterMs: number | undefined,
  refusal?: RejectReason | undefined,
): string {
  const hint = retryAfterMs === undefined ? '' : ` retry-after=${retryAfterSeconds(retryAfterMs)}`;
  const tokens = `${refusal === undefined ? '' : ` refusal=${refusal}`}${hint}`;
  const room = MAX_CLOSE_REASON_BYTES - Buffer.byteLength(tokens);
  // trimEnd: a cut after a space would leave two before the tokens.
  return truncateUtf8(withoutHints(message), room).trimEnd() + tokens;
}

function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const character of text) {
    // A lone surrogate is written as U+FFFD: 3 bytes, as for any BMP character above U+07FF.
    const size = Buffer.byteLength(character);
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += character.length;
  }
  return text.slice(0, end);
}
