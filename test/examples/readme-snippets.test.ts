/**
 * Issue 13, item 7: the README's code runs as written, and so does the guides' (docs/*.md).
 * Every TypeScript block of every page quotes an example file (or one `// #region <name>` of it)
 * named by the marker on the line above it:
 *
 *   <!-- snippet: examples/embedding.ts -->            the whole file
 *   <!-- snippet: examples/observing.ts#observe -->    the lines between
 *                                                      `// #region observe` and `// #endregion observe`
 *
 * and the block must equal its source, so the two cannot drift (fastify checks
 * its docs against its code the same way). examples.test.ts runs each file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { docPages, readPage } from '../helpers/docs.js';

const root = new URL('../../', import.meta.url);
const readme = readPage('README.md');
const packageJson = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  exports: Record<string, unknown>;
};

interface Block {
  /** The page it is on ('README.md', 'docs/rules.md'). */
  page: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** 1-based line of the closing fence. */
  end: number;
  /** The fence's whole info string, trimmed: `ts`, or `ts title="x"`, never cut to a word. */
  lang: string;
  code: string;
  /** The marker on the line above the fence, if any. */
  source: string | undefined;
}

function codeBlocks(markdown: string, page: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    // Any info string opens a block, so that a fence such as ```ts {1} is one, not text
    // whose closing fence would be taken for an opening.
    const open = lines[i]?.match(/^```(.*)$/);
    if (open === null || open === undefined) continue;
    const end = lines.findIndex((line, j) => j > i && line.startsWith('```'));
    if (end === -1) throw new Error(`${page}:${i + 1}: unclosed code block`);
    const marker = lines[i - 1]?.match(/^<!-- snippet: (\S+) -->$/);
    blocks.push({
      page,
      line: i + 1,
      end: end + 1,
      lang: (open[1] ?? '').trim(),
      code: lines.slice(i + 1, end).join('\n'),
      source: marker?.[1],
    });
    i = end;
  }
  return blocks;
}

/** The text a marker names: a whole file, or one region of it, its common indentation removed. */
function snippetSource(source: string): string {
  const [path = '', region] = source.split('#');
  const text = readFileSync(new URL(path, root), 'utf8').replace(/\n$/, '');
  if (region === undefined) return text;
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trim() === `// #region ${region}`);
  const end = lines.findIndex((line) => line.trim() === `// #endregion ${region}`);
  if (start === -1 || end < start) throw new Error(`${path} has no region "${region}"`);
  const body = lines.slice(start + 1, end);
  const indent = Math.min(...body.filter((line) => line.trim() !== '').map((line) => line.search(/\S/)));
  return body.map((line) => line.slice(indent)).join('\n');
}

const blocks = docPages.flatMap((page) => codeBlocks(readPage(page), page));
const quoted = blocks.filter((block) => block.source !== undefined);

describe("the code of the README and the guides is the examples' code", () => {
  it('quotes at least the embedding example', () => {
    expect(quoted.map((block) => block.source)).toContain('examples/embedding.ts');
  });

  // docs/cluster-store.md, older than this check, writes the store's contract (its Lua, a custom
  // store's interface) in blocks of its own; every other page quotes its examples.
  it('every TypeScript block names the example it quotes (but those of docs/cluster-store.md)', () => {
    const unquoted = blocks.filter(
      (block) => block.lang === 'ts' && block.source === undefined && block.page !== 'docs/cluster-store.md',
    );
    expect(unquoted.map((block) => `${block.page}:${block.line}`)).toEqual([]);
  });

  // The fence languages the README uses. Another alias of TypeScript (tsx, mts, TS, `ts title`)
  // would be a way around the check above: it fails here instead.
  it('fences only languages of an allow-list', () => {
    const allowed = ['', 'ts', 'typescript', 'sh', 'js', 'text'];
    const others = blocks.filter((block) => !allowed.includes(block.lang));
    expect(others.map((block) => `${block.page}:${block.line} \`\`\`${block.lang}`)).toEqual([]);
  });

  // A framework this repository does not depend on cannot have an example here: its block is
  // fenced `typescript`, not `ts`, and says so. Only the ones named here, so that the other
  // fence is no way around the check above.
  it('a TypeScript block that quotes no example is fenced `typescript`: only the NestJS recipe', () => {
    // A `#` line inside a code block (a shell comment) is no heading.
    const inBlock = (page: string, index: number) =>
      blocks.some((block) => block.page === page && index + 1 > block.line && index + 1 < block.end);
    const headingOf = ({ page, line }: Block) =>
      readPage(page)
        .split('\n')
        .slice(0, line)
        .findLast((text, index) => text.startsWith('#') && !inBlock(page, index));
    const unchecked = blocks.filter((block) => block.lang === 'typescript');
    expect(unchecked.map((block) => `${block.page} ${headingOf(block)}`)).toEqual([
      'docs/embedding.md ### NestJS',
    ]);
    expect(unchecked.every((block) => block.source === undefined)).toBe(true);
  });

  it.each(quoted.map((block) => [block.source, block]))('%s', (source, block) => {
    expect(block.source?.startsWith('examples/')).toBe(true);
    expect(block.code, `${block.page}:${block.line} differs from ${source}`).toBe(
      snippetSource(source ?? ''),
    );
  });

  it('a quoted example imports only the public entry point of ws-supervisor', () => {
    for (const path of new Set(quoted.map((block) => block.source?.split('#')[0] ?? ''))) {
      const imports = [
        ...readFileSync(new URL(path, root), 'utf8').matchAll(/^(?:import .*|\}) from '([^']+)';$/gm),
      ];
      const specifiers = imports.map((match) => match[1] ?? '');
      // The frameworks an example shows the library beside (fastify, ws) are the app's own;
      // of this library, only what an app can import: no relative path into src/. The one
      // relative import allowed is the examples' shared command line (--port, --help), which
      // is not the library and says so where it is imported.
      expect(
        specifiers.filter((from) => from.startsWith('.') && from !== './reference-server/command-line.js'),
        path,
      ).toEqual([]);
      // The package's entry points ('ws-supervisor', 'ws-supervisor/client', ...), as its exports map names them.
      const entryPoints = Object.keys(packageJson.exports)
        .filter((key) => key.endsWith('.json') === false)
        .map((key) => `ws-supervisor${key.slice(1)}`);
      const ours = specifiers.filter((from) => from.startsWith('ws-supervisor'));
      // A page's module (examples/react/) imports the client alone; a server, the main entry.
      expect(ours, path).toContain(
        path.startsWith('examples/react/') ? 'ws-supervisor/client' : 'ws-supervisor',
      );
      expect(
        ours.filter((from) => !entryPoints.includes(from)),
        path,
      ).toEqual([]);
    }
  });

  // The README says "Everything below then works as written" of an installed package: the
  // first block is pasted whole into an app, where ./reference-server/ does not exist.
  it('a whole example the README quotes runs as pasted: it imports no path of this repository', () => {
    const whole = quoted.filter((block) => block.source?.includes('#') === false);
    expect(whole.map((block) => block.source)).toContain('examples/embedding.ts');
    for (const block of whole) {
      const specifiers = [...block.code.matchAll(/^(?:import .*|\}) from '([^']+)';$/gm)].map(
        (match) => match[1] ?? '',
      );
      expect(
        specifiers.filter((from) => from.startsWith('.')),
        block.source,
      ).toEqual([]);
      expect(block.code, block.source).not.toMatch(/readExampleFlags|exitIfCannotListen/);
    }
  });
});

/**
 * docs/migrating-from-socket-io.md, the page for a team moving a Socket.IO 4.8 server: its
 * TypeScript blocks quote examples/migrating-from-socket-io.test.ts the same way, which runs
 * them against a real server; its links reach files that exist and headings that do.
 */
describe("the Socket.IO migration page's code is the example's code", () => {
  const pagePath = 'docs/migrating-from-socket-io.md';
  const page = readFileSync(new URL(pagePath, root), 'utf8');
  const pageBlocks = codeBlocks(page, pagePath);

  it('every TypeScript block quotes a region of the example that runs it', () => {
    const ts = pageBlocks.filter((block) => block.lang === 'ts');
    expect(ts.map((block) => block.source)).toEqual([
      'examples/migrating-from-socket-io.test.ts#server',
      'examples/migrating-from-socket-io.test.ts#client',
    ]);
    for (const block of ts) {
      expect(block.code, `${pagePath}:${block.line} differs from ${block.source}`).toBe(
        snippetSource(block.source ?? ''),
      );
    }
  });

  it('every link lands on a file, and every link to a section on a heading', () => {
    const anchorsOf = (markdown: string) =>
      new Set(
        [...markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#+ (.*)$/gm)].map((match) =>
          (match[1] as string)
            .trim()
            .toLowerCase()
            .replace(/[^\w\- ]/g, '')
            .replaceAll(' ', '-'),
        ),
      );
    const links = [...page.matchAll(/\]\((?![a-z]+:)([^)#\s]*)(?:#([^)\s]+))?\)/g)];
    expect(links.length).toBeGreaterThan(15);
    const broken = links.filter(([, file = '', anchor]) => {
      const target = new URL(file === '' ? pagePath : `docs/${file}`, root);
      if (!existsSync(target)) return true;
      return anchor !== undefined && !anchorsOf(readFileSync(target, 'utf8')).has(anchor);
    });
    expect(broken.map(([link]) => link)).toEqual([]);
  });

  it('the README links it near its contents', () => {
    const top = readme.split('\n## ')[0] ?? '';
    expect(top).toContain('](docs/migrating-from-socket-io.md)');
  });
});
