/**
 * What the README points at must be there: every `npm run <script>` it tells
 * a user to type is a script of package.json, every file or folder it links
 * to or names under the repository's own folders exists, and every link to a
 * section (`#anchor`, here or in docs/) lands on a heading.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
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

describe('what the README points at', () => {
  it('every `npm run` script it names is in package.json', () => {
    // `npm\nrun x` happens where a sentence wraps.
    const named = new Set([...readme.matchAll(/npm\s+run\s+([\w:-]+)/g)].map((match) => match[1] as string));
    expect(named.size).toBeGreaterThan(5);
    expect([...named].filter((script) => !scripts.includes(script))).toEqual([]);
  });

  it('every file it links to exists', () => {
    const linked = [...readme.matchAll(/\]\((?![a-z]+:|#)([^)#\s]+)/g)].map((match) => match[1] as string);
    expect(linked.length).toBeGreaterThan(10);
    expect(linked.filter((path) => !exists(path))).toEqual([]);
  });

  it('every path it names under the repository’s folders exists', () => {
    const named = [
      ...readme.matchAll(/`((?:src|machines|examples|test|bench|docs)\/[^`\s*#]*)(?:#[^`]*)?`/g),
    ].map((match) => match[1] as string);
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((path) => !exists(path))).toEqual([]);
  });

  // The package ships src/ and machines/ compiled (dist/src/, dist/machines/), not their TypeScript:
  // a README or a docs page read in node_modules that named `src/timer-queue.ts` or
  // `machines/lease.machine.ts` sent its reader to a file that is not there.
  it('it and the docs the package ships name src/ and machines/ files as the package has them, or say they are in the repository', () => {
    // As package.json's `files` lists them (the chart pages too).
    const shipped = [
      'README.md',
      'docs/cluster-store.md',
      'docs/migrating-from-socket-io.md',
      ...readdirSync(new URL('docs/machines/', root))
        .filter((name) => name.endsWith('.md'))
        .map((name) => `docs/machines/${name}`),
    ];
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
    const links = [...readme.matchAll(/\]\(([^)#\s:]*)#([^)\s]+)\)/g)];
    // The README links to its own sections about seventy times: a pattern that matched none would pass.
    expect(links.length).toBeGreaterThan(50);
    // One parse per file, not per link: the README's anchors parsed for each of its links took
    // 1.6 s alone and past the 30 s timeout on a loaded machine.
    const anchorsByFile = new Map<string, Set<string>>();
    for (const [, file = '', anchor] of links) {
      let anchors = anchorsByFile.get(file);
      if (anchors === undefined) {
        anchors = anchorsOf(file === '' ? readme : readFileSync(new URL(file, root), 'utf8'));
        anchorsByFile.set(file, anchors);
      }
      if (!anchors.has(anchor as string)) broken.push(`${file}#${anchor}`);
    }
    expect(broken).toEqual([]);
  });

  it('its contents link every ## section, in order', () => {
    const contents = readme.match(/^\*\*Contents:\*\* ([\s\S]*?)\n\n/m)?.[1] ?? '';
    const linked = [...contents.matchAll(/\]\(#([^)]+)\)/g)].map((match) => match[1]);
    const prose = readme.replace(/^```[\s\S]*?^```/gm, '');
    const sections = [...prose.matchAll(/^## (.*)$/gm)].map((match) => anchorOf(match[1] as string));
    expect(sections.length).toBeGreaterThan(20);
    expect(linked).toEqual(sections);
  });
});
