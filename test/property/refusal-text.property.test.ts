/**
 * Property: withoutHints()'s fast path (src/refusal-text.ts: printable ASCII words one space
 * apart, with no `retry-after=<digit>` or `refusal=<word>`, are returned as they are) gives what the full rule
 * gives, for any text: text built from the characters the rule cares about (spaces, tabs,
 * newlines, controls, format characters, U+2028, lone and paired surrogates, pieces of
 * `retry-after=` and `refusal=`), ASCII that often looks clean, and any string at all. And the
 * rule's promises hold: a fixed point, no lone surrogate, no hint, no reason token.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { byFullRule, withoutHints } from '../../src/refusal-text.js';

/** Pieces that put each branch of the rule, and of the fast path's two tests, in play. */
const piece = fc.constantFrom(
  ' ',
  '  ',
  '\t',
  '\n',
  '\x00',
  '\x7f',
  '\u0085',
  '\u00a0',
  '\u200b',
  '\u202e',
  '\u2028',
  '\ufeff',
  '\ud800',
  '\udfff',
  '\ud83d\ude00',
  'é',
  'retry-after=',
  'RETRY-AFTER=',
  'retry-after',
  'refusal=',
  'REFUSAL=',
  'refusal',
  'user-limit',
  '_',
  '-',
  '=',
  '7',
  '30',
  'a',
  'slow',
  '~',
  '!',
);

const pieces = fc.array(piece, { maxLength: 12 }).map((parts) => parts.join(''));
/** Printable ASCII and spaces: clean as often as not, so the fast path is taken. */
const asciiLine = fc.string({
  unit: fc.constantFrom(...' !-./09AZaz~retry-after=1refusl_'.split('')),
  maxLength: 40,
});
const anyText = fc.oneof(pieces, asciiLine, fc.string({ unit: 'binary', maxLength: 40 }));

it('the fast path gives what the full rule gives, for any text', () => {
  fc.assert(
    fc.property(anyText, (text) => {
      expect(withoutHints(text)).toBe(byFullRule(text));
    }),
    { numRuns: 5_000 },
  );
});

it('the result is a fixed point, with no lone surrogate and no hint of its own', () => {
  fc.assert(
    fc.property(anyText, (text) => {
      const cleaned = withoutHints(text);
      expect(withoutHints(cleaned)).toBe(cleaned);
      expect(cleaned).not.toMatch(/\p{Cs}/u);
      expect(cleaned).not.toMatch(/retry-after=\d/i);
      expect(cleaned).not.toMatch(/refusal=[\w-]/i);
    }),
    { numRuns: 2_000 },
  );
});

it('a lone surrogate becomes U+FFFD; a valid pair stays as it is', () => {
  expect(withoutHints('a\ud83d\ude00b\ud800c\udc00d\udc00\ud800')).toBe(
    'a\ud83d\ude00b\ufffdc\ufffdd\ufffd\ufffd',
  );
});
