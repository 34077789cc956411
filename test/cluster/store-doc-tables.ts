/** docs/cluster-store.md as the tests that check it against the code read it: its text and its tables. */
import { readFileSync } from 'node:fs';

export const storeDoc = readFileSync(new URL('../../docs/cluster-store.md', import.meta.url), 'utf8');
const lines = storeDoc.split('\n');

/** The table rows of a `## ` section, as cells, with their 1-based line numbers (header and rule skipped). */
export function tableRows(heading: string): Array<{ line: number; cells: string[] }> {
  const start = lines.indexOf(`## ${heading}`);
  if (start < 0) throw new Error(`docs/cluster-store.md has no "## ${heading}" section`);
  const rows: Array<{ line: number; cells: string[] }> = [];
  for (let i = start + 1; i < lines.length && !lines[i]?.startsWith('## '); i++) {
    const text = lines[i] as string;
    if (!text.startsWith('|') || /^\|\s*-/.test(text)) continue;
    rows.push({
      line: i + 1,
      cells: text
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((cell) => cell.trim()),
    });
  }
  return rows.slice(1); // the header
}
