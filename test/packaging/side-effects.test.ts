/**
 * `"sideEffects": false` in package.json, and what makes it true. A bundler drops a module of a
 * package marked so when the app uses none of its exports: without the mark, a page that
 * imported only `closeKindOf` from ws-supervisor/client bundled the whole client and XState
 * (54 KB minified, esbuild 0.28); with it, 706 bytes. The mark is a promise that no shipped
 * module does anything at import that the app relies on (assigns a global, patches a prototype,
 * registers itself, starts a timer): a module that did would be dropped with its effect.
 *
 * - A static check of every module the package ships (dist/src, dist/machines and the reference
 *   server, as package.json's `files` lists them), with TypeScript's parser: each top-level
 *   statement is an import, an export, or a declaration whose initializers assign nothing, or
 *   one of the few statements listed below, each said why it is harmless. The CLI (dist/src/cli.js)
 *   and the reference server's main.js are programs, run as entry points (never dropped), which
 *   nothing imports for an effect.
 * - esbuild (the bundler the README's size is measured with) on two pages that import the client
 *   by name, as an app does (the built dist/, not src/ through tsconfig's paths): one importing
 *   only `closeKindOf`, small and without XState; one importing `createClient`, bounded near the
 *   size the README gives ("Client").
 *
 *   npm run build && npx vitest run test/packaging/side-effects.test.ts
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  sideEffects?: unknown;
  files: string[];
};

/** The top-level statements allowed beyond declarations, by file: each is harmless at import. */
const allowed: Record<string, readonly string[]> = {
  // The `ws-supervisor` command: a program (the package's bin), run, never imported.
  'dist/src/cli.js': [
    'process.exitCode = await run(ownArguments(process.argv, process.env));',
    'if (cluster.isWorker)',
  ],
  // The reference server runs only as the process's main module (this guard); cli.js import()s it.
  'dist/examples/reference-server/main.js': [
    'if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)',
  ],
  // A type-level check's value, read so that the linter keeps it: nothing happens.
  'dist/src/reasons.js': ['void rejectStatusesExact;'],
  // tsc's alias of a class for its static private members (`var _a;` above it): module-local.
  'dist/src/transport/ws-adapter.js': ['_a = WsConnection;'],
};

/** The shipped modules: every .js under the `files` entries of dist/. */
function shippedModules(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return walk(path);
      return name.endsWith('.js') ? [path] : [];
    });
  const dirs = packageJson.files.filter((entry) => entry.startsWith('dist/') && !entry.includes('*'));
  expect(dirs).toEqual(['dist/src', 'dist/machines', 'dist/examples/reference-server']);
  return dirs
    .flatMap((dir) => walk(join(root, dir)))
    .map((path) => relative(root, path).replaceAll('\\', '/'));
}

/** What in a module's top level may run an effect at import: statements and assignments. */
function effectsAtImport(text: string): string[] {
  const source = ts.createSourceFile('module.js', text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const found: string[] = [];
  // An assignment outside any function, inside a declaration's initializer (`const a = (g.x = 1)`).
  const assignments = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) || ts.isClassLike(node)) return;
    if (
      (ts.isBinaryExpression(node) &&
        node.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
        node.operatorToken.kind <= ts.SyntaxKind.LastAssignment) ||
      ts.isDeleteExpression(node) ||
      ((ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) &&
        (node.operator === ts.SyntaxKind.PlusPlusToken || node.operator === ts.SyntaxKind.MinusMinusToken))
    ) {
      found.push(node.getText(source));
    }
    ts.forEachChild(node, assignments);
  };
  for (const statement of source.statements) {
    if (
      ts.isImportDeclaration(statement) ||
      ts.isExportDeclaration(statement) ||
      ts.isFunctionDeclaration(statement) ||
      ts.isEmptyStatement(statement)
    ) {
      continue;
    }
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        if (declaration.initializer) assignments(declaration.initializer);
      }
      continue;
    }
    if (ts.isClassDeclaration(statement)) {
      // A static block or a static field runs at import: its assignments count.
      for (const member of statement.members) {
        if (ts.isClassStaticBlockDeclaration(member)) found.push(member.getText(source).split('\n')[0] ?? '');
      }
      continue;
    }
    if (ts.isExportAssignment(statement)) {
      assignments(statement.expression);
      continue;
    }
    // Its first line: enough to name an `if` without its body.
    found.push(
      statement
        .getText(source)
        .split('\n')[0]
        ?.replace(/\s*\{$/, '') ?? '',
    );
  }
  return found;
}

describe('"sideEffects": false', () => {
  it('is in package.json', () => {
    expect(packageJson.sideEffects).toBe(false);
  });

  it('holds: no shipped module runs anything at import beyond its declarations', () => {
    const modules = shippedModules();
    expect(modules.length).toBeGreaterThan(100);
    const effects = Object.fromEntries(
      modules
        .map((file) => [file, effectsAtImport(readFileSync(join(root, file), 'utf8'))] as const)
        .filter(([, found]) => found.length > 0),
    );
    expect(effects).toEqual(allowed);
  });

  it('catches an effect: a global assigned, a prototype patched, a registration, a static block', () => {
    expect(
      effectsAtImport(
        "import { a } from './a.js';\nexport const b = () => (globalThis.x = 1);\nfunction c() {}\nexport { c };",
      ),
    ).toEqual([]);
    expect(effectsAtImport('globalThis.WebSocket = class {};')).toEqual(['globalThis.WebSocket = class {};']);
    expect(effectsAtImport('const patched = (Array.prototype.last = function () {});')).toEqual([
      'Array.prototype.last = function () {}',
    ]);
    expect(effectsAtImport("customElements.define('x-y', class extends HTMLElement {});")).toHaveLength(1);
    expect(effectsAtImport('let n = 0;\nexport const id = n++;')).toEqual(['n++']);
    expect(effectsAtImport('class A { static { register(A); } }')).toEqual(['static { register(A); }']);
    expect(effectsAtImport('await setup();')).toEqual(['await setup();']);
  });
});

/** esbuild on a page importing `ws-supervisor/client` by name, as the README measures it. */
async function bundle(page: string) {
  const result = await build({
    stdin: { contents: page, resolveDir: root, sourcefile: 'page.js', loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    // The package as an app resolves it (exports -> dist/), not tsconfig.json's paths to src/.
    tsconfigRaw: '{}',
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]?.contents ?? new Uint8Array();
  // What reached the bundle (metafile.inputs lists every module read, the dropped ones too).
  const output = Object.values(result.metafile.outputs)[0];
  const inputs = Object.entries(output?.inputs ?? {})
    .filter(([, { bytesInOutput }]) => bytesInOutput > 0)
    .map(([input]) => input);
  return { bytes: code.byteLength, gzipped: gzipSync(code, { level: 9 }).byteLength, inputs };
}

describe('bundled with esbuild', () => {
  it('a page that imports only closeKindOf gets a few hundred bytes, and no XState', async () => {
    const { bytes, inputs } = await bundle(
      "import { closeKindOf } from 'ws-supervisor/client';\nconsole.log(closeKindOf(4001));\n",
    );
    expect(inputs.filter((input) => input.includes('node_modules/'))).toEqual([]);
    expect(inputs.every((input) => input === 'page.js' || input.startsWith('dist/'))).toBe(true);
    expect(bytes).toBeLessThan(2_000); // 706 bytes with esbuild 0.28.2 (54 KB without the mark)
  });

  it('a page that imports createClient stays near the README size (79 KB minified, 27 KB gzipped)', async () => {
    const { bytes, gzipped, inputs } = await bundle(
      "import { createClient } from 'ws-supervisor/client';\ncreateClient({ url: 'wss://example.test/' });\n",
    );
    expect(inputs.some((input) => input.includes('node_modules/xstate/'))).toBe(true);
    // Bounds, not the size: 78,893 and 27,447 bytes with esbuild 0.28.2 and xstate 5.33.
    // Past them, say the new size in the README ("Client"), or find what grew.
    expect(bytes).toBeLessThan(88_000);
    expect(gzipped).toBeLessThan(31_000);
    // Not a client gone missing: the xstate share alone is about 40 KB.
    expect(bytes).toBeGreaterThan(50_000);
  });
});
