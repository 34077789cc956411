/**
 * Text width without a browser: the layout must be computed in Node and be
 * the same on every machine, so widths come from a fixed table of Helvetica
 * / Arial advance widths (in 1/1000 em), rounded up a little because the
 * viewer's `sans-serif` may be a slightly wider face (DejaVu Sans, Segoe UI).
 */
const NARROW = new Set([...`il.,:;'|!jI`]);
const SEMI_NARROW = new Set([...'ftr[]()/* -']);
const WIDE = new Set([...'mwMW@']);

/** Advance width of one character, in 1/1000 em. */
function advance(char: string): number {
  if (NARROW.has(char)) return 280;
  if (SEMI_NARROW.has(char)) return 350;
  if (WIDE.has(char)) return 880;
  if (char === '_') return 556;
  if (/[A-Z]/.test(char)) return 690;
  if (/[0-9a-z]/.test(char)) return 556;
  return 600;
}

/** How much wider bold (600) words are than regular ones: ~8% in Helvetica Bold, ~11% in DejaVu Sans Bold. */
const BOLD = 1.12;

/**
 * Estimated width in px of `text` set in `fontSize` px sans-serif (a tenth of slack added), or in
 * its bold face: a note's bold heading overran its box by its last letter, measured as regular.
 */
export function textWidth(text: string, fontSize: number, bold = false): number {
  let units = 0;
  for (const char of text) units += advance(char);
  return Math.ceil((units / 1000) * fontSize * 1.1 * (bold ? BOLD : 1));
}
