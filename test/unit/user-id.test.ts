/** User ids key the per-user limit, logs and metric labels: userIdProblem says why one is unusable. */
import { describe, expect, it } from 'vitest';
import { MAX_USER_ID_BYTES, MAX_USER_ID_LENGTH } from '../../src/index.js';
import { userIdProblem } from '../../src/user-id.js';

const tooLong = 'user id is longer than 128 bytes in UTF-8';
const control = 'user id contains control characters';
const bidi = 'user id contains bidirectional control characters';
const separator = 'user id contains a line or paragraph separator';
const replacement = 'user id contains U+FFFD, the mark of bytes that were not UTF-8';
const surrogate = 'user id contains a lone surrogate (not valid Unicode)';
const invisible =
  'user id contains an invisible character (Default_Ignorable_Code_Point, such as U+FEFF or U+200B)';
const stray =
  'user id contains a joiner or variation selector that joins or selects nothing (next to ASCII, at an end, or doubled)';

describe('userIdProblem', () => {
  it('the documented maximum is 128 bytes in UTF-8 (MAX_USER_ID_LENGTH is the same number, deprecated)', () => {
    expect(MAX_USER_ID_BYTES).toBe(128);
    expect(MAX_USER_ID_LENGTH).toBe(MAX_USER_ID_BYTES);
  });

  it.each([
    ['a plain id', 'alice'],
    ['one character', 'u'],
    ['exactly 128 ASCII characters (128 bytes)', 'u'.repeat(128)],
    ['64 two-byte characters (128 bytes)', 'é'.repeat(64)],
    ['42 three-byte characters and two ASCII (128 bytes)', `${'日'.repeat(42)}ab`],
    ['32 emoji, each a surrogate pair (128 bytes)', '👋'.repeat(32)],
    ['an e-mail address', 'user@example.com'],
    ['inner spaces', 'a b'],
    ['a UUID', '0190b6a4-3c1e-7d2a-9f00-1234567890ab'],
    ['accents and CJK', 'Zoë 日本語'],
    ['an emoji', 'user 👋'],
    ['an emoji sequence with a zero-width joiner', '👩\u200d💻'],
    ['a right-to-left name (no control characters)', 'مستخدم'],
    ['U+FFFC, next to U+FFFD', 'a\ufffc'],
    // Invisible, yet meaning something: they join or shape what is around them.
    ['a zero-width non-joiner (U+200C) in Persian', 'می\u200cخواهم'],
    ['an emoji with its presentation selector (U+FE0F)', 'love \u2764\ufe0f'],
    ['an ideographic variation selector (U+E0100)', '葛\u{E0100}'],
    ['a Mongolian free variation selector (U+180B)', 'ᠠ\u180b'],
    ['U+180E MONGOLIAN VOWEL SEPARATOR between Mongolian letters', 'ᠨᠠ\u180Eᠠ'],
    ['a keycap (a digit, U+FE0F, U+20E3)', 'room 1\ufe0f\u20e3'],
    ['a ZWJ sequence with presentation selectors (eye in speech bubble)', '👁\ufe0f\u200d🗨\ufe0f'],
    ['the rainbow flag (U+FE0F, then a ZWJ)', '🏳\ufe0f\u200d🌈'],
    ['the pirate flag (U+1F3F4, ZWJ, U+2620, U+FE0F)', '🏴\u200d\u2620\ufe0f'],
    ['a # keycap', '#\ufe0f\u20e3'],
    [
      'a Malayalam chillu in the old encoding (NA, virama, ZWJ) at the end, and before digits',
      'ജോണ്\u200d ജോണ്\u200d42',
    ],
    ["Wales's flag", '🏴\u{E0067}\u{E0062}\u{E0077}\u{E006C}\u{E0073}\u{E007F}'],
    [
      "England's flag (U+1F3F4, tag characters, U+E007F)",
      'fan 🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}',
    ],
  ])('accepts %s', (_name, id) => {
    expect(userIdProblem(id)).toBeUndefined();
  });

  it.each<[string, unknown, string]>([
    ['the empty string', '', 'user id is empty'],
    ['129 ASCII characters', 'u'.repeat(129), tooLong],
    ['65 two-byte characters (130 bytes, 65 UTF-16 units)', 'é'.repeat(65), tooLong],
    ['43 three-byte characters (129 bytes)', '日'.repeat(43), tooLong],
    ['33 emoji (132 bytes, 66 UTF-16 units)', '👋'.repeat(33), tooLong],
    ['a very long id', 'u'.repeat(10_000), tooLong],
    ['NUL (\\u0000)', 'a\u0000', control],
    ['a newline (log injection)', 'alice\nlevel=error', control],
    ['a carriage return', 'a\rb', control],
    ['a tab', 'a\tb', control],
    ['ESC (terminal escapes)', '\u001b[31mred', control],
    ['DEL (\\u007f)', '\u007f', control],
    ['NEL (\\u0085, a C1 control)', 'a\u0085b', control],
    ['\\u009f, the last C1 control', 'a\u009f', control],
    ['U+202E RIGHT-TO-LEFT OVERRIDE (reads "alice" as "ecila")', '\u202Eecila', bidi],
    ['U+202A LEFT-TO-RIGHT EMBEDDING', 'a\u202Ab', bidi],
    ['U+202C POP DIRECTIONAL FORMATTING', 'a\u202Cb', bidi],
    ['U+2066 LEFT-TO-RIGHT ISOLATE', 'a\u2066b', bidi],
    ['U+2069 POP DIRECTIONAL ISOLATE', 'a\u2069b', bidi],
    ['U+200E LEFT-TO-RIGHT MARK', 'a\u200Eb', bidi],
    ['U+200F RIGHT-TO-LEFT MARK', 'a\u200Fb', bidi],
    ['U+061C ARABIC LETTER MARK', 'a\u061Cb', bidi],
    ['U+2028 LINE SEPARATOR', 'alice\u2028level=error', separator],
    ['U+2029 PARAGRAPH SEPARATOR', 'a\u2029b', separator],
    ['U+FFFD, what %FF in a query decodes to', 'alice\uFFFD', replacement],
    ['U+FFFD alone', '\uFFFD', replacement],
    ['a lone high surrogate', 'a\uD83D', surrogate],
    ['a lone low surrogate', '\uDC4Bb', surrogate],
    ['a low surrogate before a high one', '\uDC4B\uD83D', surrogate],
    // Invisible (Default_Ignorable_Code_Point): "alice" twice in a log, two users with two limits.
    ['a BOM (U+FEFF) from a file that starts with one', '\uFEFFalice', invisible],
    ['U+200B ZERO WIDTH SPACE', 'ali\u200Bce', invisible],
    ['U+2060 WORD JOINER', 'alice\u2060', invisible],
    ['U+00AD SOFT HYPHEN', 'al\u00ADice', invisible],
    ['U+034F COMBINING GRAPHEME JOINER', 'a\u034Flice', invisible],
    ['U+3164 HANGUL FILLER', 'alice\u3164', invisible],
    ['U+180E MONGOLIAN VOWEL SEPARATOR between ASCII letters', 'a\u180Eb', stray],
    ['a tag character (U+E0061)', 'alice\u{E0061}', invisible],
    ['tag characters and a cancel tag without the black flag', 'alice\u{E0067}\u{E0062}\u{E007F}', invisible],
    // The ones that mean something where they stand, standing where they mean nothing:
    // "alice" with one of them is a second "alice".
    ['a ZWJ at the end', 'alice\u200d', stray],
    ['a ZWJ at the start', '\u200d👩', stray],
    ['a ZWNJ between ASCII letters', 'al\u200cice', stray],
    ['two ZWJs in a row', '👩\u200d\u200d💻', stray],
    ['a presentation selector after ASCII', 'alice\ufe0f', stray],
    ['a variation selector at the start', '\ufe0falice', stray],
    [
      'a black flag with tags no platform draws (it shows as a plain black flag)',
      'alice🏴\u{E0061}\u{E007F}',
      invisible,
    ],
    [
      'an unknown subdivision flag (gbzzz)',
      '🏴\u{E0067}\u{E0062}\u{E007A}\u{E007A}\u{E007A}\u{E007F}',
      invisible,
    ],
    ['a keycap of a letter (only digits, # and * make one)', 'a\ufe0f\u20e3', stray],
    ['a text presentation selector after a digit (reads as the digit)', 'room 1\ufe0e', stray],
    ['two variation selectors in a row', '\u2764\ufe0f\ufe0f', stray],
    ['a number', 42, 'user id must be a string, got number'],
    ['undefined', undefined, 'user id must be a string, got undefined'],
    ['null', null, 'user id must be a string, got object'],
    ['an object', { userId: 'alice' }, 'user id must be a string, got object'],
    ['a String object', new String('alice'), 'user id must be a string, got object'],
  ])('refuses %s', (_name, id, problem) => {
    expect(userIdProblem(id)).toBe(problem);
  });

  it('two different byte strings never become one user: an invalid byte is refused, not replaced', () => {
    const decode = (query: string) => new URLSearchParams(query).get('user');
    const [a, b] = [decode('user=alice%FF'), decode('user=alice%FE')];
    expect(a).toBe(b); // the decoder made one string of two byte strings…
    expect(userIdProblem(a)).toBe(replacement); // …so that string is refused.
  });
});
