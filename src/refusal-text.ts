/**
 * The text a refusal carries on the wire, by one rule on both ends: the server
 * writes an app's message (and its own) this way, as a close reason and as an
 * HTTP body, and the client reads a refused upgrade's words this way, whatever
 * server or proxy wrote them. It imports nothing: the client (browsers
 * included) takes it without any server code.
 */

/**
 * The response header that names the reason of a refusal answered over HTTP (the `rejected`
 * event's `reason`, e.g. `user-limit`), as ` refusal=<reason>` does in a close reason. Node
 * reads it as `ws-supervisor-refusal` (lower-case). No `X-` prefix (RFC 6648).
 */
export const REFUSAL_HEADER = 'WS-Supervisor-Refusal';

/** Control and format characters (C0, C1, bidi overrides, zero-width…) and the Unicode line breaks. */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\u2028\u2029]+/gu;

/**
 * A retry hint anywhere in the text, in any case. Each is replaced by a space, which no hint
 * contains: removing one cannot join the text around it into another.
 */
const ANY_RETRY_HINT = /retry-after=\d+/gi;

/**
 * A refusal's reason token anywhere in the text, in any case (` refusal=<word>`, which the server
 * appends to a close reason: the library's own word, never the app's). Replaced by a space, as a
 * hint is, and for the same reason: `refusal=user-limit` in an app's message cannot pass for the
 * reason the server names.
 */
const ANY_REFUSAL_TOKEN = /refusal=[\w-]+/gi;

/**
 * A lone surrogate (half of a pair, or a pair in the wrong order). With the `u` flag a valid
 * pair is one code point, not two `Cs`, so only lone ones match. UTF-8 cannot carry one:
 * Buffer and TextEncoder write U+FFFD instead, so the text is made to say what is sent.
 */
const LONE_SURROGATE = /\p{Cs}/gu;

/**
 * Text the full rule leaves as it is: printable ASCII words, each one space apart, with no
 * `retry-after=<digit>` and no `refusal=<word character>`. Most messages are such text (`try later`, `account suspended`), and a
 * refusal cleans its message more than once (close reason or body, and the event): two test()s
 * cost far less than the passes they skip.
 * test/property/refusal-text.property.test.ts checks that both give the same.
 */
const CLEAN_ASCII = /^(?:[!-~]+(?: [!-~]+)*)?$/;
const HAS_RETRY_HINT = /retry-after=\d/i;
const HAS_REFUSAL_TOKEN = /refusal=[\w-]/i;

/**
 * Text on one line, without a retry hint or a reason token of its own: runs of unprintable
 * characters become a space, every `retry-after=<digits>` and `refusal=<word>` goes, whitespace
 * is collapsed and trimmed. Only the
 * refusal's real hint (` retry-after=<s>` appended after this, or a Retry-After header) gives
 * one: an app's `'… retry-after=999'` is never read as a hint the server did not give, and a
 * newline or a bidi override never reaches a page or a terminal. A lone surrogate becomes
 * U+FFFD, as UTF-8 sends it, so the `rejected` event says what the wire carried. The result is
 * a fixed point (cleaning it again changes nothing), and any start of it has no hint or token
 * either. (Neither contains a space, so a space left for one cannot join text into another.)
 */
export function withoutHints(text: string): string {
  return CLEAN_ASCII.test(text) && !HAS_RETRY_HINT.test(text) && !HAS_REFUSAL_TOKEN.test(text)
    ? text
    : byFullRule(text);
}

/** withoutHints() without its fast path (exported for the property test that holds them equal). */
export function byFullRule(text: string): string {
  return text
    .replace(LONE_SURROGATE, '\uFFFD')
    .replace(UNPRINTABLE, ' ')
    .replace(ANY_RETRY_HINT, ' ')
    .replace(ANY_REFUSAL_TOKEN, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}
