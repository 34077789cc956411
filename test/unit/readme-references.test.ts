/**
 * What the README and the guides in docs/ point at must be there: every `npm run <script>`
 * they tell a user to type is a script of package.json, every file or folder they link to
 * (from the page's own folder) or name under the repository's own folders exists, and every
 * link to a section (`#anchor`, on the same page or another) lands on a heading. The README's
 * "Guides" list every page of docs/, and each page's contents list its `##` sections.
 */
import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chartPages, docPages, readPage } from '../helpers/docs.js';

const root = new URL('../../', import.meta.url);
const readme = readPage('README.md');
const pages = docPages.map((page) => ({ page, text: readPage(page) }));
const scripts = Object.keys(
  (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> })
    .scripts,
);
const exists = (path: string) => existsSync(new URL(path, root));

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replaceAll(' ', '-');

/** The anchors of a markdown file's headings (those inside code blocks are not headings). */
function anchorsOf(markdown: string): Set<string> {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...prose.matchAll(/^#+ (.*)$/gm)].map((match) => anchorOf(match[1] as string)));
}

describe('what the README and the guides point at', () => {
  it('every `npm run` script they name is in package.json', () => {
    // `npm\nrun x` happens where a sentence wraps.
    const named = new Set(
      pages.flatMap(({ text }) =>
        [...text.matchAll(/npm\s+run\s+([\w:-]+)/g)].map((match) => match[1] as string),
      ),
    );
    expect(named.size).toBeGreaterThan(5);
    expect([...named].filter((script) => !scripts.includes(script))).toEqual([]);
  });

  it('every file they link to exists', () => {
    // A link is relative to its page's folder: `../examples/x.ts` from docs/, `hub.svg` from docs/machines/.
    const linked = [...pages, ...chartPages.map((page) => ({ page, text: readPage(page) }))].flatMap(
      ({ page, text }) =>
        [...text.matchAll(/\]\((?![a-z]+:|#)([^)#\s]+)/g)].map((match) => ({
          page,
          path: posix.join(posix.dirname(page), match[1] as string),
        })),
    );
    expect(linked.filter(({ page }) => page === 'README.md').length).toBeGreaterThan(10);
    expect(linked.filter(({ page }) => page !== 'README.md').length).toBeGreaterThan(50);
    expect(linked.filter(({ path }) => !exists(path)).map(({ page, path }) => `${page}: ${path}`)).toEqual(
      [],
    );
  });

  it('every path they name under the repository’s folders exists', () => {
    // Named in `code`, a path is the repository's, from its root, whatever the page's folder.
    const named = pages.flatMap(({ page, text }) =>
      [...text.matchAll(/`((?:src|machines|examples|test|bench|docs)\/[^`\s*#]*)(?:#[^`]*)?`/g)].map(
        (match) => `${page}: ${match[1] as string}`,
      ),
    );
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((entry) => !exists(entry.slice(entry.indexOf(': ') + 2)))).toEqual([]);
  });

  // The package ships src/ and machines/ compiled (dist/src/, dist/machines/), not their TypeScript:
  // a README or a docs page read in node_modules that named `src/timer-queue.ts` or
  // `machines/lease.machine.ts` sent its reader to a file that is not there.
  it('it and the docs the package ships name src/ and machines/ files as the package has them, or say they are in the repository', () => {
    // As package.json's `files` lists them: README.md, docs/*.md and the chart pages.
    const shipped = [...docPages, ...chartPages];
    expect(shipped).toEqual(expect.arrayContaining(['docs/rules.md', 'docs/cluster-store.md']));
    const unshipped: string[] = [];
    const uncompiled: string[] = [];
    let compiled = 0;
    for (const file of shipped) {
      // Code blocks, fenced by ``` or ~~~ and indented or not, are code: a path there is an import.
      const text = readFileSync(new URL(file, root), 'utf8').replace(
        /^([ \t]*)(`{3,}|~{3,})[\s\S]*?^\1\2/gm,
        '',
      );
      for (const paragraph of text.split(/\n\s*\n/)) {
        // The phrase, not any "repository": "the repository's CI" says nothing of where a file is.
        const says = /\bin the repository\b/.test(paragraph);
        // `./src/x.ts` and `../machines/x.ts` (links) too; not `dist/src/x.js`, nor `ws-supervisor/machines`.
        for (const [, path] of paragraph.matchAll(
          /(?<![\w./-])(?:\.{1,2}\/)*(src\/[\w./-]*\w|machines\/[\w./-]*\.ts\b)/g,
        )) {
          if (!says) unshipped.push(`${file}: ${path}`);
        }
        for (const [, path] of paragraph.matchAll(/`dist\/((?:src|machines)\/[\w./-]+?)(?:\.d\.ts|\.js)`/g)) {
          compiled += 1;
          if (!exists(`${path}.ts`)) uncompiled.push(`${file}: dist/${path}`);
        }
      }
    }
    expect(unshipped).toEqual([]);
    expect(uncompiled).toEqual([]);
    expect(compiled).toBeGreaterThan(5);
  });

  it('every link to a section lands on a heading', () => {
    const broken: string[] = [];
    // `#x` is on the page itself; `rules.md#x` from docs/, `docs/rules.md#x` from the README.
    const links = [...pages, ...chartPages.map((page) => ({ page, text: readPage(page) }))].flatMap(
      ({ page, text }) =>
        [...text.matchAll(/\]\(([^)#\s:]*)#([^)\s]+)\)/g)].map(([, file = '', anchor]) => ({
          page,
          file: file === '' ? page : posix.join(posix.dirname(page), file),
          anchor: anchor as string,
        })),
    );
    // The pages link to sections hundreds of times (the README alone to its guides' over ten):
    // a pattern that matched none would pass.
    expect(links.length).toBeGreaterThan(300);
    expect(links.filter(({ page }) => page === 'README.md').length).toBeGreaterThan(10);
    // One parse per file, not per link: the README's anchors parsed for each of its links took
    // 1.6 s alone and past the 30 s timeout on a loaded machine.
    const anchorsByFile = new Map<string, Set<string>>();
    for (const { page, file, anchor } of links) {
      let anchors = anchorsByFile.get(file);
      if (anchors === undefined) {
        anchors = exists(file) ? anchorsOf(readFileSync(new URL(file, root), 'utf8')) : new Set();
        anchorsByFile.set(file, anchors);
      }
      if (!anchors.has(anchor)) broken.push(`${page}: ${file}#${anchor}`);
    }
    expect(broken).toEqual([]);
  });

  // The two pages that were in docs/ before the guides have no contents line.
  const withoutContents = ['docs/cluster-store.md', 'docs/migrating-from-socket-io.md'];

  it('the contents of the README and of each guide link every ## section of the page, in order', () => {
    let total = 0;
    for (const { page, text } of pages.filter(({ page }) => !withoutContents.includes(page))) {
      const contents = text.match(/^\*\*Contents:\*\* ([\s\S]*?)\n\n/m)?.[1] ?? '';
      const linked = [...contents.matchAll(/\]\(#([^)]+)\)/g)].map((match) => match[1]);
      const prose = text.replace(/^```[\s\S]*?^```/gm, '');
      const sections = [...prose.matchAll(/^## (.*)$/gm)].map((match) => anchorOf(match[1] as string));
      expect(sections.length, page).toBeGreaterThan(0);
      // A `###` the README's Guides promise may be listed too (newcomer trial: "Many tabs"),
      // after its `##`; every `##` is listed, in order, and every link is a heading of the page.
      const subsections = [...prose.matchAll(/^### (.*)$/gm)].map((match) => anchorOf(match[1] as string));
      expect(
        linked.filter((anchor) => sections.includes(anchor as string)),
        page,
      ).toEqual(sections);
      for (const anchor of linked) expect([...sections, ...subsections], page).toContain(anchor);
      total += sections.length;
    }
    // The 26 sections of the README before it was split, and the README's own new ones.
    expect(total).toBeGreaterThan(25);
  });

  it("the README's Guides list every page of docs/, and each guide links back to the README", () => {
    const guides = readme.split(/^## Guides$/m)[1]?.split(/^## /m)[0] ?? '';
    const listed = [...guides.matchAll(/^- \[[^\]]+\]\((docs\/[\w-]+\.md)\)/gm)].map((match) => match[1]);
    expect(listed.sort()).toEqual(docPages.filter((page) => page !== 'README.md'));
    // Every guide, those without a contents line too (newcomer trial).
    for (const { page, text } of pages.filter(({ page }) => page !== 'README.md')) {
      const top = text.split('\n## ')[0] ?? '';
      expect(top, page).toContain('](../README.md');
    }
  });
});
