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
 *   statement is an import, an export, or a declaration, and what runs of it at import (an
 *   initializer, a class's `extends`, computed keys, static fields and blocks, `export default`)
 *   assigns nothing and calls nothing but the pure callees listed below (Object.freeze, new Map,
 *   xstate's setup() and action builders...); the few exceptions are listed by file, each said
 *   why it is harmless. The CLI (dist/src/cli.js)
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
  // The ws version check at import (WSSUP_UNSUPPORTED_PEER): an effect, and one that is fine to
  // lose. A bundler drops ws-peer.js only when nothing the app uses imports ws, so no check is due.
  'dist/src/transport/ws-peer.js': ["loadWs(createRequire(import.meta.url), 'ws')"],
  // The chart names' lists, built with filter() and map() over module constants; the callbacks read.
  'dist/src/chart/command.js': [
    'NAMES.filter((name) => charts[name].id !== name).map((name) => [charts[name].id, name])',
    'NAMES.filter((name) => charts[name].id !== name)',
  ],
  'dist/src/chart/delays.js': ['Object.keys(charts).map((name) => [charts[name], delaySettings[name]])'],
  // The Content-Security-Policy header: `[...].join('; ')` of the directives.
  'dist/src/dashboard/page.js': ['['],
  // A class's static block that hands three module-local functions its private fields: it
  // assigns module-local `let`s, nothing outside the module.
  'dist/src/authenticate-context.js': ['static'],
};

/**
 * Module-local functions (or imported ones) that a module calls at import to build a value, by
 * file: each returns a fresh object or string and touches nothing else.
 */
const pureByFile: Record<string, Record<string, string>> = {
  'dist/examples/reference-server/config.js': { usageFor: 'the usage text, a string' },
  'dist/machines/connection.machine.js': {
    abortAs: 'a transition object',
    closeAndDrain: 'a transition object',
  },
  'dist/src/cluster/redis-scripts.js': { script: "a script's record, its SHA-1 from node:crypto" },
  'dist/src/dashboard/page.js': { hash: "a script's or a style's CSP hash (node:crypto), a string" },
  'dist/src/options.js': { integerRule: "an option's rule object" },
  'dist/src/transport/ws-adapter.js': {
    closeCodeFor: 'a close code from an HTTP status (a lookup)',
    closeReason: 'a close reason string',
  },
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

/**
 * Callees that only build a value, called at import by the shipped modules: a call of any other
 * (or `new`, a tagged template, an `await`) in what runs at import is reported, for the per-file
 * list above to say why it is harmless. Names as written in the module; xstate's are pure only
 * when the module imports them from 'xstate' (checked).
 */
const pureCallees: ReadonlySet<string> = new Set([
  'Object.freeze',
  'Object.keys',
  'Symbol',
  'Symbol.for',
  'String.raw',
  'JSON.stringify',
  'encodeURIComponent',
  'createRequire', // node:module's: a require() for the module, which loads nothing yet
  'new Set',
  'new Map',
  'new WeakMap',
  'new WeakSet',
  'new RegExp',
]);
/** xstate's machine builders: each returns a description (an action, a guard, an actor logic). */
const pureFromXstate: ReadonlySet<string> = new Set([
  'setup',
  'assign',
  'emit',
  'raise',
  'sendParent',
  'enqueueActions',
  'fromCallback',
  'fromPromise',
  'and',
  'not',
  'stateIn',
]);

/**
 * What in a module's top level may run an effect at import: every statement but an import, an
 * export, or a declaration; and in what a declaration runs at import (a variable's initializer,
 * a class's `extends`, computed keys, static fields and static blocks, `export default`'s
 * expression) every assignment, call, `new`, tagged template and `await` but the pure callees'.
 * A function's body is skipped: it runs when called (an immediately called one is a call).
 * Exported for nothing: the probes below are its unit cases.
 */
function effectsAtImport(text: string, pureHere: ReadonlySet<string> = new Set()): string[] {
  const source = ts.createSourceFile('module.js', text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const found: string[] = [];
  const firstLine = (node: ts.Node) =>
    node
      .getText(source)
      .split('\n')[0]
      ?.replace(/\s*\{$/, '') ?? '';
  // The local names of xstate's pure builders, as this module imports them.
  const fromXstate = new Set<string>();
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    if (statement.moduleSpecifier.text !== 'xstate') continue;
    const bindings = statement.importClause?.namedBindings;
    if (bindings === undefined || !ts.isNamedImports(bindings)) continue;
    for (const element of bindings.elements) {
      if (pureFromXstate.has((element.propertyName ?? element.name).text)) fromXstate.add(element.name.text);
    }
  }
  const isPure = (node: ts.CallExpression | ts.NewExpression): boolean => {
    const callee = node.expression;
    if (ts.isNewExpression(node)) {
      const name = `new ${callee.getText(source)}`;
      return pureCallees.has(name) || pureHere.has(name);
    }
    if (ts.isIdentifier(callee))
      return fromXstate.has(callee.text) || pureCallees.has(callee.text) || pureHere.has(callee.text);
    // setup({ ... }).extend({ ... }).createMachine({ ... }): xstate's setup() result building the machine.
    if (
      ts.isPropertyAccessExpression(callee) &&
      (callee.name.text === 'createMachine' || callee.name.text === 'extend') &&
      ts.isCallExpression(callee.expression)
    ) {
      return isPure(callee.expression);
    }
    return pureCallees.has(callee.getText(source)) || pureHere.has(callee.getText(source));
  };
  const atImport = (node: ts.Node): void => {
    if (ts.isClassLike(node)) {
      classAtImport(node);
      return;
    }
    if (ts.isFunctionLike(node)) {
      // Its body runs when called; a computed name (`{ [f()]() {} }`) at once.
      const name = (node as ts.SignatureDeclaration).name;
      if (name !== undefined && ts.isComputedPropertyName(name)) atImport(name.expression);
      return;
    }
    if (
      (ts.isBinaryExpression(node) &&
        node.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
        node.operatorToken.kind <= ts.SyntaxKind.LastAssignment) ||
      ts.isDeleteExpression(node) ||
      ((ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) &&
        (node.operator === ts.SyntaxKind.PlusPlusToken || node.operator === ts.SyntaxKind.MinusMinusToken)) ||
      ((ts.isCallExpression(node) || ts.isNewExpression(node)) && !isPure(node)) ||
      (ts.isTaggedTemplateExpression(node) && !pureCallees.has(node.tag.getText(source))) ||
      ts.isAwaitExpression(node)
    ) {
      found.push(firstLine(node));
    }
    ts.forEachChild(node, atImport);
  };
  // A class runs at its definition: its `extends`, its computed keys, its static fields and blocks.
  const classAtImport = (node: ts.ClassLikeDeclaration): void => {
    for (const clause of node.heritageClauses ?? []) {
      for (const type of clause.types) atImport(type.expression);
    }
    for (const member of node.members) {
      if (member.name !== undefined && ts.isComputedPropertyName(member.name))
        atImport(member.name.expression);
      if (ts.isClassStaticBlockDeclaration(member)) {
        found.push(firstLine(member)); // statements: reported whole
      } else if (
        ts.isPropertyDeclaration(member) &&
        member.initializer !== undefined &&
        member.modifiers?.some((modifier) => modifier.kind === ts.SyntaxKind.StaticKeyword)
      ) {
        atImport(member.initializer);
      }
    }
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
        if (declaration.initializer) atImport(declaration.initializer);
      }
      continue;
    }
    if (ts.isClassDeclaration(statement)) {
      classAtImport(statement);
      continue;
    }
    if (ts.isExportAssignment(statement)) {
      atImport(statement.expression);
      continue;
    }
    // Its first line: enough to name an `if` without its body.
    found.push(firstLine(statement));
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
        .map((file) => {
          const pureHere = new Set(Object.keys(pureByFile[file] ?? {}));
          return [file, effectsAtImport(readFileSync(join(root, file), 'utf8'), pureHere)] as const;
        })
        .filter(([, found]) => found.length > 0),
    );
    expect(effects).toEqual(allowed);
    expect(Object.keys(pureByFile).filter((file) => !modules.includes(file))).toEqual([]);
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

  it('catches a call, new, tagged template or await in what runs at import, but a pure callee', () => {
    const probes: [string, string[]][] = [
      ['export const t = setInterval(f, 1000);', ['setInterval(f, 1000)']],
      [
        "export const ok = customElements.define('x-y', class extends HTMLElement {});",
        ["customElements.define('x-y', class extends HTMLElement {})"],
      ],
      ['export const r = (() => {\n  globalThis.x = 1;\n})();', ['(() =>']],
      ['class A { static x = (globalThis.y = 1); }', ['globalThis.y = 1']],
      ['class A { static x = register(A); }', ['register(A)']],
      ['class A extends (globalThis.B = class {}) {}', ['globalThis.B = class {}']],
      ['const C = class { static { register(C); } };', ['static { register(C); }']],
      ['export default register();', ['register()']],
      ['export default class extends mixin(Base) {}', ['mixin(Base)']],
      ['const a = Object.assign(globalThis, { x: 1 });', ['Object.assign(globalThis, { x: 1 })']],
      [
        "const d = Object.defineProperty(Array.prototype, 'last', { get() {} });",
        ["Object.defineProperty(Array.prototype, 'last', { get() {} })"],
      ],
      ['const w = new Worker(url);', ['new Worker(url)']],
      ['const h = html`<x-y></x-y>`;', ['html`<x-y></x-y>`']],
      ['const x = await load();', ['await load()', 'load()']],
      ['const o = { [register()]: 1 };', ['register()']],
      ['const o = { [register()]() {} };', ['register()']],
      ['class A { [register()]() {} }', ['register()']],
      ['const f = Object.freeze({ a: register() });', ['register()']],
      // Not from xstate: a function of the same name may do anything.
      [
        "import { setup } from './mine.js';\nconst m = setup({}).createMachine({});",
        ['setup({}).createMachine({})', 'setup({})'],
      ],
    ];
    for (const [code, effects] of probes)
      expect({ code, effects: effectsAtImport(code) }).toEqual({ code, effects });
    // What only builds a value: pure callees, xstate's builders (imported from it), functions' bodies.
    const pure = [
      "import { setup, assign as a } from 'xstate';",
      'const m = setup({ actions: { x: a({}) } }).extend({}).createMachine({ entry: () => register() });',
      "const s = new Set([1]), k = Symbol.for('k'), f = Object.freeze({}), r = String.raw`\\d`;",
      'class A { static x = new Map(); y = register(); method() { register(); } }',
      'export const later = () => setInterval(f, 1000);',
    ].join('\n');
    expect(effectsAtImport(pure)).toEqual([]);
    expect(effectsAtImport('const r = integerRule(1, 2);', new Set(['integerRule']))).toEqual([]);
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
    // The metafile's paths are relative to it (to process.cwd() without it): from the root, dist/….
    absWorkingDir: root,
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
    // Bounds, not the size (about 79 KB minified and 27.5 KB at gzip level 9 with esbuild 0.28
    // and xstate 5.33). Past them, say the new size in the README ("Client"), or find what grew.
    expect(bytes).toBeLessThan(88_000);
    expect(gzipped).toBeLessThan(31_000);
    // Not a client gone missing: the xstate share alone is about 40 KB.
    expect(bytes).toBeGreaterThan(50_000);
  });
});
