/**
 * "Did you mean": the known name an unknown one was probably meant to be, so
 * that an error about a typo names the fix instead of listing every option.
 */

/**
 * The known names closest to `name`: equal but for case (nearest), ones that
 * start with it (`linger` for `lingerMs`), or within an edit distance of a
 * third of its length (at least 2). `names` holds every name at the nearest
 * distance, the shortest first (`auth` starts both `authenticate` and
 * `authenticateTimeoutMs`); `sure` says the guess can stand alone in a
 * message, without the list of every name after it: one name, at most two
 * edits away. A guess from further away (`maxUserConnections` is four edits
 * from `maxConnections`, which is the process-wide cap) may be the wrong
 * option, so the message keeps the list then. Undefined when none is close.
 */
export function guessName(
  name: string,
  known: Iterable<string>,
): { readonly names: readonly string[]; readonly sure: boolean } | undefined {
  const wanted = name.toLowerCase();
  let names: string[] = [];
  let bestDistance = Math.max(2, Math.floor(wanted.length / 3)) + 1;
  for (const candidate of known) {
    const lower = candidate.toLowerCase();
    // Lengths this far apart are at least this many edits apart: not measured. A name may come
    // from a client (an authenticate result built from a query), and the edit distance of a
    // 200,000-character one to each known name held the event loop for seconds.
    if (Math.abs(lower.length - wanted.length) >= bestDistance && !lower.startsWith(wanted)) continue;
    const distance =
      lower === wanted ? 0 : wanted.length >= 4 && lower.startsWith(wanted) ? 1 : editDistance(wanted, lower);
    if (distance < bestDistance) {
      names = [candidate];
      bestDistance = distance;
    } else if (distance === bestDistance && names.length > 0) {
      names.push(candidate);
    }
  }
  if (names.length === 0) return undefined;
  // The shortest first: `auth` reads as "authenticate" or "authenticateTimeoutMs".
  names.sort((a, b) => a.length - b.length);
  return { names, sure: names.length === 1 && bestDistance <= 2 };
}

/** The guess as a message says it: `"a"`, or `"a" or "b"`. */
export function sayGuess(names: readonly string[]): string {
  return names.map((name) => `"${name}"`).join(' or ');
}

/** Levenshtein distance, with a swap of two neighbours counting as one edit (`Treshold`). */
function editDistance(a: string, b: string): number {
  // rows[i][j]: the distance between a's first i and b's first j characters.
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i += 1) {
    const row = rows[i] as number[];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, at(i - 2, j - 2) + 1);
      }
      row[j] = distance;
    }
  }
  return at(a.length, b.length);
}
