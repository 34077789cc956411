/**
 * "Testing your app" is meant to be copied: its TypeScript blocks, pasted in
 * order into one test file of a user's app beside that app's own
 * `createChat`, must compile as they are, under this project's strict
 * settings (`exactOptionalPropertyTypes` included), for an app typed with
 * `createSupervisor<Data>()` and for an untyped one. readme-snippets.test.ts
 * checks that each block equals its region of examples/testing-your-app.test.ts;
 * this checks that the blocks, without the rest of that file, are enough: once
 * they were not (no imports shown; a harness typed for untyped apps only,
 * TS2379 for a typed one). The section shows the file's own app too (a user of
 * the npm package has no copy of the file): pasted with it, the blocks compile
 * as they are; with a user's own app in its place, typed or not, too.
 *
 * `ws-supervisor` resolves as in the user's app, through package.json's
 * `exports` to dist/ (the build's declarations): run `npm run build` first.
 */
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { readPage } from '../helpers/docs.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readPage('docs/testing-your-app.md');

/** The TypeScript blocks of the section `heading` of docs/testing-your-app.md, in order. */
function blocksOf(heading: string): string[] {
  const start = readme.indexOf(`\n## ${heading}\n`);
  const end = readme.indexOf('\n## ', start + 1);
  if (start === -1) throw new Error(`docs/testing-your-app.md has no section "${heading}"`);
  const section = readme.slice(start, end);
  return [...section.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? '');
}

/** The app's factory, as a user's app module would export it (a declaration: only its type matters). */
const apps = {
  'typed with createSupervisor<ChatData>()': `
interface ChatData { plan: 'free' | 'pro' }
declare function createChat(overrides?: Partial<SupervisorOptions<ChatData>>): Supervisor<ChatData>;`,
  untyped: `
declare function createChat(overrides?: Partial<SupervisorOptions>): Supervisor;`,
};

/** Diagnostics of `text` compiled as examples/<name>.test.ts (there, `ws-supervisor` is this package). */
function diagnosticsOf(text: string): string[] {
  const file = `${root}examples/readme-testing-pasted.test.ts`;
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2023.d.ts'],
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
    noEmit: true,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, version, ...rest) =>
    name === file ? ts.createSourceFile(name, text, version) : getSourceFile(name, version, ...rest);
  host.fileExists = (name) => name === file || fileExists(name);
  host.readFile = (name) => (name === file ? text : readFile(name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((diagnostic) => {
    const { line } = diagnostic.file?.getLineAndCharacterOfPosition(diagnostic.start ?? 0) ?? { line: -1 };
    return `line ${line + 1}: TS${diagnostic.code} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
  });
}

describe('"Testing your app": its snippets, pasted into an app\'s test file, compile', () => {
  const blocks = blocksOf('Testing your app');
  /** The block that defines the example's app (its createChat); the rest is what a user pastes. */
  const isApp = (block: string) => /^function createChat\(/m.test(block);

  it('shows the imports, the app (createChat), the harness and tests', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    expect(blocks[0]).toMatch(/^import /);
    expect(blocks.filter(isApp)).toHaveLength(1);
  });

  it("with the example's own app, as shown", () => {
    expect(diagnosticsOf(`${blocks.join('\n')}\n`)).toEqual([]);
  }, 60_000);

  it.each(Object.entries(apps))(
    "for an app %s in place of the example's",
    (_name, app) => {
      const pasted = blocks.filter((block) => !isApp(block));
      expect(diagnosticsOf(`${pasted.join('\n')}\n${app}\n`)).toEqual([]);
    },
    60_000,
  );
});
