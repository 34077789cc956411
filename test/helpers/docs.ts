/**
 * The user's documentation: README.md and the guides in docs/ (README's "Guides" lists them).
 * Tests that check what a page says read the page that now holds that section; tests that check
 * every page (links, anchors, snippets) read them all.
 */
import { readdirSync, readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);

/** README.md, then every docs/*.md guide, as repository paths. */
export const docPages: readonly string[] = [
  'README.md',
  ...readdirSync(new URL('docs/', root))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
];

/** The generated chart pages, docs/machines/*.md. */
export const chartPages: readonly string[] = readdirSync(new URL('docs/machines/', root))
  .filter((name) => name.endsWith('.md'))
  .sort()
  .map((name) => `docs/machines/${name}`);

/** The text of a page, by its repository path ('README.md', 'docs/rules.md'). */
export function readPage(path: string): string {
  return readFileSync(new URL(path, root), 'utf8');
}
