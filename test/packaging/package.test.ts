/**
 * The package as an app gets it (issue 13, items 5, 11 and 12): `npm pack`,
 * install the tarball into a fresh app (with its own `ws`, without the
 * optional peers elkjs, prom-client and redis), then
 * - type-check a strict app with skipLibCheck: false: the public API must
 *   compile, and wrong types must be rejected (the ws types were once `any`,
 *   because @types/ws was only a devDependency);
 * - resolve the types of every subpath of `exports` with moduleResolution
 *   nodenext, node16 and bundler, and `import = require()` from a .cts file
 *   (three programs, one per resolution: each checks every library .d.ts
 *   again, most of this file's time); and with node10 (`module: commonjs` in
 *   TypeScript 5), through typesVersions (a fourth, short program: skipLibCheck);
 * - type-check with exactOptionalPropertyTypes too (a fifth program): no error
 *   in our .d.ts, and optional options that take undefined say so;
 * - type-check the strict app with TypeScript 7 too (what `npm install
 *   typescript` installs today): the same errors as 5.9; and resolve every
 *   subpath with `module: commonjs`, whose node10 resolution TypeScript 7 removed;
 * - read the TSDoc an editor shows on hover for the main path's public types;
 * - run it: a real socket through the app's own ws, every subpath through
 *   import() and require() (and no other path), and SVG charts without elkjs
 *   failing with WSSUP_MISSING_PEER;
 * - run the `ws-supervisor` command (`serve` starts the shipped reference server);
 * - check what ships: code with its types, the CLI's reference server, the
 *   docs (README.md and the guides in docs/), the examples' sources (not the tests among
 *   them), and nothing else; every relative link of the README and of every shipped docs page
 *   resolving in the package, or said to be in the repository; no source map pointing at a
 *   file not shipped.
 *
 * The install uses the network only for what the local npm cache lacks.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = fileURLToPath(new URL('./consumer/', import.meta.url));
/** TypeScript 7 (the native compiler), what `npm install typescript` gives an app today (devDependency `typescript-7`). */
const tsc7 = join(root, 'node_modules', 'typescript-7', 'bin', 'tsc');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; never rejects, so each test can show what it printed. */
function run(command: string, args: string[], cwd: string): Promise<Result> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

function expectSuccess(result: Result, what: string): void {
  expect(result.code, `${what} failed:\n${result.stdout}\n${result.stderr}`).toBe(0);
}

/** The file an error line of tsc's output is about. */
const fileOf = (line: string) => line.slice(0, line.indexOf('('));

/** The consumer's own files (test/packaging/consumer/tsconfig*.json); other errors are in subpaths.ts or a library's .d.ts. */
const appFiles = new Set(['app.ts', 'wrong.ts', 'require-types.cts', 'exact.ts']);

/**
 * `file TSnnnn 'module'` for each error line of tsc's output (the module named in it, if
 * any) about a file `where` keeps.
 */
function errorsOf(stdout: string, where: (file: string) => boolean = () => true): string[] {
  return stdout
    .split('\n')
    .filter((line) => /error TS\d+/.test(line) && where(fileOf(line)))
    .map((line) => {
      const [, file, code, module] = line.match(/^(.+?)\(\d+,\d+\): error (TS\d+):[^']*('[^']+')?/) ?? [];
      return `${file} ${code}${module === undefined ? '' : ` ${module}`}`;
    });
}

interface PackedFile {
  path: string;
}

describe('the packed package in a fresh app', () => {
  let app: string;
  let packed: PackedFile[];
  /**
   * One program per moduleResolution. Files that share compiler options share a program:
   * tsconfig.json (nodenext) is the strict app and subpaths.ts, tsconfig.node16.json is
   * subpaths.ts and require-types.cts; tsconfig.node10.json (subpaths.ts) skips the library
   * checks, so it is short; tsconfig.exact.json is exact.ts and subpaths.ts with
   * exactOptionalPropertyTypes; tsconfig.cts.json and tsconfig.cts-verbatim.json are the two
   * CommonJS files without and with verbatimModuleSyntax.
   *
   * The TypeScript 5.9 programs are built here, in this process, when a test first asks for
   * one, and they share the files they parsed (the library's, @types/node's, xstate's .d.ts)
   * wherever their options parse and bind a file alike (the rule the language service's
   * document registry keeps): a tsc process each parsed them all again, and loaded the
   * compiler again, about 40% of the CPU these checks took. Each program still checks every
   * file itself, with its own options; what it reports is what `tsc -p <config> --pretty false`
   * prints. The two TypeScript 7 programs (its native compiler) run as tsc processes, started
   * as soon as the app is installed.
   */
  const typeScript5 = {
    nodenext: 'tsconfig.json',
    node16: 'tsconfig.node16.json',
    bundler: 'tsconfig.bundler.json',
    node10: 'tsconfig.node10.json',
    exact: 'tsconfig.exact.json',
    cts: 'tsconfig.cts.json',
    ctsVerbatim: 'tsconfig.cts-verbatim.json',
    browser: 'tsconfig.browser.json',
    browserDisposable: 'tsconfig.browser-disposable.json',
  } as const;
  let typeScript7: Record<'ts7' | 'ts7commonjs', Promise<Result>> | undefined;
  const registry = ts.createDocumentRegistry();
  const parsedFiles = new Map<string, ts.SourceFile>();
  const checked = new Map<keyof typeof typeScript5, Result>();
  /** The strict app's program (nodenext), kept for the test of what an editor shows on hover. */
  let strictApp: ts.Program | undefined;
  const typeCheckHere = (name: keyof typeof typeScript5): Result => {
    const done = checked.get(name);
    if (done !== undefined) return done;
    const parsed = ts.getParsedCommandLineOfConfigFile(join(app, typeScript5[name]), undefined, {
      ...ts.sys,
      getCurrentDirectory: () => app,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    });
    if (parsed === undefined) throw new Error(`${typeScript5[name]} did not parse`);
    const host = ts.createCompilerHost(parsed.options);
    host.getCurrentDirectory = () => app;
    const settings = registry.getKeyForCompilationSettings(parsed.options);
    const parse = host.getSourceFile.bind(host);
    host.getSourceFile = (fileName, languageVersionOrOptions, onError, shouldCreate) => {
      const { languageVersion, impliedNodeFormat, jsDocParsingMode } =
        typeof languageVersionOrOptions === 'object'
          ? languageVersionOrOptions
          : {
              languageVersion: languageVersionOrOptions,
              impliedNodeFormat: undefined,
              jsDocParsingMode: undefined,
            };
      const key = `${settings}|${languageVersion}|${impliedNodeFormat}|${jsDocParsingMode}|${fileName}`;
      let file = parsedFiles.get(key);
      if (file === undefined) {
        file = parse(fileName, languageVersionOrOptions, onError, shouldCreate);
        if (file !== undefined) parsedFiles.set(key, file);
      }
      return file;
    };
    const program = ts.createProgram({
      rootNames: parsed.fileNames,
      options: parsed.options,
      host,
      configFileParsingDiagnostics: parsed.errors,
    });
    if (name === 'nodenext') strictApp = program;
    const diagnostics = ts.getPreEmitDiagnostics(program);
    const result = {
      code: diagnostics.some((diagnostic) => diagnostic.category === ts.DiagnosticCategory.Error) ? 1 : 0,
      stdout: ts.formatDiagnostics(diagnostics, {
        getCanonicalFileName: (fileName) => fileName,
        getCurrentDirectory: () => app,
        getNewLine: () => '\n',
      }),
      stderr: '',
    };
    checked.set(name, result);
    return result;
  };
  const typeCheck = (
    name: keyof typeof typeScript5 | keyof NonNullable<typeof typeScript7>,
  ): Promise<Result> => {
    if (typeScript7 === undefined) throw new Error('the app was not installed (see beforeAll)');
    if (name === 'ts7' || name === 'ts7commonjs') return typeScript7[name];
    return Promise.resolve(typeCheckHere(name));
  };

  beforeAll(async () => {
    app = mkdtempSync(join(tmpdir(), 'wssup-consumer-'));
    // npm pack runs `prepack` (the build) first, as a publish would.
    const pack = await run(npm, ['pack', '--json', '--pack-destination', app], root);
    expectSuccess(pack, 'npm pack');
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as [
      { filename: string; files: PackedFile[] },
    ];
    packed = info.files;
    cpSync(fixture, app, { recursive: true });
    writeFileSync(
      join(app, 'package.json'),
      `${JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2)}\n`,
    );
    // The app installs ws itself (a peer), and neither @types/* nor elkjs.
    const install = await run(
      npm,
      ['install', `./${info.filename}`, 'ws@^8.17.1', '--prefer-offline', '--no-audit', '--no-fund'],
      app,
    );
    expectSuccess(install, 'npm install');
    // Every subpath of `exports` (but ./package.json), imported by one file that each program checks.
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
    };
    const specifiers = Object.keys(manifest.exports)
      .filter((subpath) => !subpath.endsWith('.json'))
      .map((subpath) => `ws-supervisor${subpath.slice(1)}`);
    writeFileSync(
      join(app, 'subpaths.ts'),
      `${specifiers.map((specifier, i) => `import * as m${i} from '${specifier}';`).join('\n')}\n` +
        `export const all = [${specifiers.map((_, i) => `m${i}`).join(', ')}];\n`,
    );
    const tsc7Run = (project: string) =>
      run(process.execPath, [tsc7, '-p', project, '--pretty', 'false'], app);
    typeScript7 = { ts7: tsc7Run('tsconfig.json'), ts7commonjs: tsc7Run('tsconfig.commonjs.json') };
  }, 120_000);

  afterAll(async () => {
    // A test left out (-t) leaves its tsc running: let it end before its files go.
    if (typeScript7 !== undefined) await Promise.all(Object.values(typeScript7));
    strictApp = undefined;
    parsedFiles.clear();
    checked.clear();
    if (app !== undefined) rmSync(app, { recursive: true, force: true });
  }, 120_000);

  it('installs one ws (the app’s), @types/ws with it, and none of the optional peers (elkjs, prom-client, redis)', () => {
    const modules = join(app, 'node_modules');
    expect(existsSync(join(modules, 'ws', 'package.json'))).toBe(true);
    expect(existsSync(join(modules, 'ws-supervisor', 'node_modules', 'ws'))).toBe(false);
    expect(existsSync(join(modules, '@types', 'ws', 'index.d.ts'))).toBe(true);
    expect(existsSync(join(modules, 'elkjs'))).toBe(false);
    expect(existsSync(join(modules, 'prom-client'))).toBe(false);
    expect(existsSync(join(modules, 'redis'))).toBe(false);
  });

  it('type-checks a strict app (skipLibCheck: false) and rejects wrong types', async () => {
    const check = await typeCheck('nodenext');
    // The program's other errors (subpaths.ts and the .d.ts files) are the nodenext test's below.
    const errors = check.stdout
      .split('\n')
      .filter((line) => /error TS\d+/.test(line) && appFiles.has(fileOf(line)))
      .map((line) => line.replace(/: error (TS\d+):.*/, ' $1'));
    // app.ts and require-types.cts compile; each WRONG line of wrong.ts is an error, and nothing else is.
    expect(errors, check.stdout).toEqual([
      'wrong.ts(7,9) TS2322',
      'wrong.ts(13,3) TS2322',
      'wrong.ts(18,3) TS2322',
      'wrong.ts(22,50) TS2322',
      'wrong.ts(25,25) TS2345',
      'wrong.ts(28,7) TS2322',
      'wrong.ts(32,9) TS2322',
      'wrong.ts(33,60) TS18048',
      'wrong.ts(37,7) TS7022',
      'wrong.ts(39,3) TS7023',
      'wrong.ts(43,1) TS2554',
      'wrong.ts(44,7) TS2741',
      'wrong.ts(49,34) TS2769',
      'wrong.ts(55,10) TS2678',
      'wrong.ts(63,48) TS2322',
      'wrong.ts(65,93) TS2322',
    ]);
  }, 120_000);

  it('runs: a real socket through the app’s ws (the peer), ws-supervisor/client on it, the dashboard, and SVG without elkjs, metrics without prom-client and cluster mode without redis are WSSUP_MISSING_PEER', async () => {
    const result = await run(process.execPath, ['runtime.mjs'], app);
    expectSuccess(result, 'runtime.mjs');
    const seen = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '');
    expect(seen).toMatchObject({
      echo: 'hello',
      clientEcho: 'from the client',
      closeCode: 1001,
      counters: { admitted: 2, disposed: 2 },
      mermaid: expect.stringMatching(/^stateDiagram-v2|^---/),
      svg: { ok: false, name: 'MissingPeerError', code: 'WSSUP_MISSING_PEER', peer: 'elkjs' },
      dashboard: { page: 200, chart: 501 },
      metrics: { ok: false, name: 'MissingPeerError', code: 'WSSUP_MISSING_PEER', peer: 'prom-client' },
      cluster: { ok: false, name: 'MissingPeerError', code: 'WSSUP_MISSING_PEER', peer: 'redis' },
    });
    expect(seen.svg.message).toContain('npm install elkjs');
    expect(seen.dashboard.chartSays).toContain('npm install elkjs');
    expect(seen.metrics.message).toContain('npm install prom-client');
    expect(seen.cluster.message).toContain('npm install redis');
  }, 30_000);

  it('the chart command says what to install for SVG and exits 1', async () => {
    const bin = join(app, 'node_modules', 'ws-supervisor', 'dist', 'src', 'cli.js');
    const result = await run(process.execPath, [bin, 'chart', '--format', 'svg'], app);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: .*npm install elkjs/);
    expect(result.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  }, 30_000);

  it('serve --redis without the redis package says what to install and exits 1, before it listens', async () => {
    const bin = join(app, 'node_modules', '.bin', 'ws-supervisor');
    const result = await run(bin, ['serve', '--port', '0', '--redis', 'redis://127.0.0.1:1'], app);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(1);
    expect(result.stderr).toMatch(/^error: .*npm install redis/);
    expect(result.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    expect(result.stdout).not.toContain('listening');
  }, 30_000);

  // require.cjs loads every subpath and prints what each gives: this test and the next read its one run.
  let requireRun: Promise<Result> | undefined;
  const requireCjs = () => {
    requireRun ??= run(process.execPath, ['require.cjs'], app);
    return requireRun;
  };

  it('loads with require() from CommonJS', async () => {
    const result = await requireCjs();
    expectSuccess(result, 'require.cjs');
    expect(JSON.parse(result.stdout.trim())).toMatchObject({ createSupervisor: 'function' });
  }, 30_000);

  it('every subpath of "exports" loads with import() and with require(), the same names both ways; a path it does not list is refused', async () => {
    const imported = await run(process.execPath, ['exports.mjs'], app);
    expectSuccess(imported, 'exports.mjs');
    const required = await requireCjs();
    expectSuccess(required, 'require.cjs');
    const esm = JSON.parse(imported.stdout.trim()) as { subpaths: Record<string, string[]>; deep: string };
    const cjs = JSON.parse(required.stdout.trim()) as { subpaths: Record<string, string[]> };
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
    };
    const code = Object.keys(manifest.exports).filter((subpath) => !subpath.endsWith('.json'));
    expect(code).toEqual(['.', './client', './machines', './dashboard', './metrics', './testing']);
    for (const subpath of code) {
      expect(esm.subpaths[subpath], subpath).toEqual(cjs.subpaths[subpath]);
      expect(esm.subpaths[subpath]?.length, subpath).toBeGreaterThan(0);
    }
    expect(esm.subpaths['./package.json']).toEqual(['default']);
    expect(cjs.subpaths['./package.json']).toContain('exports');
    expect(esm.deep).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  }, 30_000);

  // Each subpath's types resolve under every moduleResolution an ESM app may use. The one
  // error expected is ws-supervisor/metrics naming prom-client, the optional peer it needs
  // (types included), which this app does not install. The consumer's own files (app.ts,
  // wrong.ts, require-types.cts) share these programs; the tests above and below judge their errors.
  it.each(['nodenext', 'node16', 'bundler'] as const)(
    'the types of every subpath resolve with moduleResolution %s',
    async (resolution) => {
      const check = await typeCheck(resolution);
      expect(
        errorsOf(check.stdout, (file) => !appFiles.has(file)),
        check.stdout,
      ).toEqual(["node_modules/ws-supervisor/dist/src/metrics/prometheus.d.ts TS2307 'prom-client'"]);
    },
    120_000,
  );

  // An existing service on `module: commonjs` (TypeScript 5's default resolution, node10)
  // reads no `exports`: without typesVersions every subpath but the root was TS2307. This
  // program skips the library checks (skipLibCheck, as such apps do): resolution only.
  it('the types of every subpath resolve with moduleResolution node10 (module commonjs, TypeScript 5)', async () => {
    const check = await typeCheck('node10');
    expect(errorsOf(check.stdout), check.stdout).toEqual([]);
  }, 120_000);

  // TypeScript 7 is what `npm install typescript` installs today: the strict app must get the
  // same verdicts from it as from TypeScript 5.9 (the wrong lines rejected, nothing else but
  // prom-client's missing types), and an app on `module: commonjs`, whose node10 resolution
  // TypeScript 7 removed (TS5108 where a tsconfig names it), must still resolve every subpath.
  it('TypeScript 7 gives the strict app the same errors as TypeScript 5.9', async () => {
    const [five, seven] = await Promise.all([typeCheck('nodenext'), typeCheck('ts7')]);
    expect(seven.stdout, seven.stderr).toMatch(/^wrong\.ts\(\d+,\d+\): error TS2322/m);
    expect(errorsOf(seven.stdout), seven.stdout).toEqual(errorsOf(five.stdout));
  }, 120_000);

  it('the types of every subpath resolve with module commonjs under TypeScript 7 (no moduleResolution)', async () => {
    const check = await typeCheck('ts7commonjs');
    expect(`${check.stdout}${check.stderr}`).not.toMatch(/error TS/);
    expect(check.code, check.stdout).toBe(0);
  }, 120_000);

  // The strictest app: exactOptionalPropertyTypes too. Our own .d.ts files must compile under
  // it (XState's do not: its setup.d.ts, TS2344, which the README says); and an optional
  // property the library reads as absent when it is undefined must accept undefined (a
  // connection's send() options did not: forwarding `binary: boolean | undefined` was TS2379).
  it('type-checks with exactOptionalPropertyTypes: no error but XState’s own, and optional options accept undefined', async () => {
    const check = await typeCheck('exact');
    const ours = errorsOf(check.stdout, (file) => !file.startsWith('node_modules/xstate/'));
    expect(ours, check.stdout).toEqual([
      "node_modules/ws-supervisor/dist/src/metrics/prometheus.d.ts TS2307 'prom-client'",
    ]);
  }, 120_000);

  // What an editor shows on hover is the TSDoc of the installed .d.ts: every export of every
  // subpath says what it is, and so does each member of its type, with no exemption: the main
  // path (options, the supervisor and its handles, events, errors, stats, method options, the
  // client and the socket it takes, the dashboard's and the metrics' inputs and views), which
  // must also stay exported, and the rest (the client's backoff and close, the Redis client
  // shapes a user's own node-redis client must match, the machines and their vocabulary).
  it('documents (TSDoc, shown on hover) every export of every subpath and every member of it', () => {
    // The strict app's program (nodenext) imports every subpath in subpaths.ts; its checker
    // answers what an editor's would (the strict flags only keep more union variants apart).
    typeCheckHere('nodenext');
    const program = strictApp;
    if (program === undefined) throw new Error('the strict app was not type-checked');
    const entry = join(app, 'subpaths.ts');
    const checker = program.getTypeChecker();
    const ours = (symbol: ts.Symbol) =>
      (symbol.declarations ?? []).some((d) =>
        d.getSourceFile().fileName.includes('/node_modules/ws-supervisor/'),
      );
    const documented = (symbol: ts.Symbol) =>
      ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() !== '';
    const exportsOf = (specifier: string) => {
      const file = program.getSourceFile(entry);
      const found = file?.statements
        .filter(ts.isImportDeclaration)
        .find((statement) => (statement.moduleSpecifier as ts.StringLiteral).text === specifier);
      const module =
        found === undefined ? undefined : checker.getSymbolAtLocation(found.moduleSpecifier as ts.Expression);
      if (module === undefined) throw new Error(`${specifier} did not resolve`);
      return new Map(checker.getExportsOfModule(module).map((symbol) => [symbol.name, symbol]));
    };
    const mainPath: Record<string, string[]> = {
      'ws-supervisor': `createSupervisor SupervisorOptions Limits AuthResult Supervisor ConnectionHandle
        SupervisorEventMap SupervisorEventName AdmittedEvent RejectedEvent RejectedEventFields RejectReason EvictedEvent
        DisposedEvent DisposeInfo StoreEvent CapacityEvent IncarnationEvent OfflineEvent ReapedEvent ErrorCode ErrorCodes SupervisorError
        InvalidOptionError AppHookError MissingPeerError Refusal SupervisorStats UserStats StatsOptions
        ShutdownOptions ShutdownPace SendOptions BroadcastOptions RoomSendOptions ClusterFlag
        ClusterSendResult AttachOptions ReadyOptions AuditReport PresetName ResolvedOptions
        RetryAfterDefaults Clock ClusterStats ResolvedClusterOptions RedisSentinelNode RedisSentinelAuth
        OriginAllowlist SlotStore ClusterAdmission ClusterNode ClusterUserBook ClusterView EvictionOrder
        HeldConnection ChartGraph ChartNode ChartNodeType ChartEdge ChartEdgeKind ChartDelay ChartFormat ChartName
        RenderChartOptions`.split(/\s+/),
      'ws-supervisor/client':
        `createClient Client ClientOptions ClientUrlContext ClientEvents ClientCloseEvent ClientCloseCause
        ClientListener ClientState CloseEventLike MessageEventLike BlobLike WebSocketLike`.split(/\s+/),
      'ws-supervisor/dashboard': `createDashboard Authorize AccessVerdict Activity ActivityKind StateCounts
        StatsView`.split(/\s+/),
      'ws-supervisor/metrics': 'registerMetrics MetricsSubject'.split(/\s+/),
      'ws-supervisor/testing': `inbox Inbox InboxMessage InboxClose refusal RefusalAnswer leaksOf
        SocketClosedError serveForTest ServeForTestOptions ManualClock OpenRefusedError TestApp TestClient TestableSupervisor
        TestLeakError ShutdownStuckError`.split(/\s+/),
      'ws-supervisor/machines': [],
    };
    const undocumented: string[] = [];
    for (const [specifier, names] of Object.entries(mainPath)) {
      const exported = exportsOf(specifier);
      for (const name of names) {
        if (!exported.has(name)) undocumented.push(`${specifier}: ${name} is not exported`);
      }
      for (const [name, alias] of exported) {
        const symbol = alias.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(alias) : alias;
        if (!documented(symbol)) undocumented.push(`${specifier}: ${name}`);
        // An interface or class, or a type alias: every member of every object variant of a union
        // (RejectedEvent's `limit`, on one `reason` only; AuthResult's object among a string and null),
        // not only the members all variants share, which is all getPropertiesOfType gives of a union.
        const declared = checker.getDeclaredTypeOfSymbol(symbol);
        const variants = (type: ts.Type): ts.Type[] =>
          type.isUnion() ? type.types.flatMap(variants) : [type];
        const seen = new Set<ts.Symbol>();
        for (const variant of variants(declared)) {
          if ((variant.flags & ts.TypeFlags.Object) === 0 && !variant.isIntersection()) continue;
          for (const member of checker.getPropertiesOfType(variant)) {
            if (seen.has(member)) continue;
            seen.add(member);
            if (ours(member) && !documented(member))
              undocumented.push(`${specifier}: ${name}.${member.name}`);
          }
        }
      }
    }
    expect(undocumented).toEqual([]);
  }, 60_000);

  // `await using` (TypeScript 5.2+): the strict app (app.ts) gets the symbols from @types/node. A
  // browser app of the client has no @types/node: without lib esnext.disposable the client's
  // .d.ts must still compile (a `[Symbol.asyncDispose]` declared as is was TS2550 there), and
  // with it, `await using` a client must type-check.
  it('ws-supervisor/client in a browser app (no @types/node) compiles without lib esnext.disposable, and with it `await using` a client type-checks', async () => {
    const [without, withLib] = await Promise.all([typeCheck('browser'), typeCheck('browserDisposable')]);
    expect(errorsOf(without.stdout), without.stdout).toEqual([]);
    expect(errorsOf(withLib.stdout), withLib.stdout).toEqual([]);
    expect(without.code + withLib.code).toBe(0);
  }, 120_000);

  it('TypeScript CommonJS: import = require() type-checks with module nodenext, and node16 refuses it (TS1471), as the README says', async () => {
    // Under nodenext, require-types.cts is in the strict app's program, whose test wants no error in it.
    const check = await typeCheck('node16');
    expect(
      errorsOf(check.stdout, (file) => file === 'require-types.cts'),
      check.stdout,
    ).toEqual([
      "require-types.cts TS1471 'ws-supervisor'",
      "require-types.cts TS1471 'ws-supervisor/client'",
    ]);
  }, 120_000);

  it('TypeScript CommonJS: `import { … } from` compiles too under nodenext, but verbatimModuleSyntax allows only import = require() (TS1286), as the README says', async () => {
    const [plain, verbatim] = await Promise.all([typeCheck('cts'), typeCheck('ctsVerbatim')]);
    expect(errorsOf(plain.stdout), plain.stdout).toEqual([]);
    expect(plain.code, plain.stderr).toBe(0);
    // TS1286 in a .cts file (TS1295 in a .ts file of a CommonJS package: the same message).
    expect(errorsOf(verbatim.stdout), verbatim.stdout).toEqual([
      "import-from.cts TS1286 'verbatimModuleSyntax'",
      "import-from.cts TS1286 'verbatimModuleSyntax'",
    ]);
  }, 120_000);

  // npm 11 lists a dependency's install-time scripts at every install ("1 package has install
  // scripts not yet covered by allowScripts: ws-supervisor@0.1.0 (prepare: npm run build)"):
  // the build is for the repository and for packing, never for an app that installs the package.
  it('asks the app’s npm to run no script at install (no preinstall, install, postinstall or prepare)', () => {
    const installed = JSON.parse(
      readFileSync(join(app, 'node_modules', 'ws-supervisor', 'package.json'), 'utf8'),
    ) as { scripts?: Record<string, string> };
    const atInstall = ['preinstall', 'install', 'postinstall', 'prepare'].filter(
      (name) => installed.scripts?.[name] !== undefined,
    );
    expect(atInstall).toEqual([]);
  });

  it('ships what a user runs and nothing else: the compiled code with its types, the CLI and the reference server it serves, the docs, the examples to read', () => {
    const paths = packed.map((file) => file.path).sort();
    for (const path of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'dist/src/cli.js']) {
      expect(paths, path).toContain(path);
    }
    expect(paths).toContain('dist/examples/reference-server/main.js'); // `ws-supervisor serve`
    // The README quotes and links the examples: their sources ship to be read (running them takes a
    // clone, with the devDependencies express, fastify, pino), with the one helper they import.
    // The examples that are tests do not ship, nor does any other source.
    expect(paths).toEqual(expect.arrayContaining(['examples/embedding.ts', 'examples/fastify.ts']));
    const stray = paths.filter(
      (path) =>
        !/^(package\.json|README\.md|CHANGELOG\.md|LICENSE)$/.test(path) &&
        !/^dist\/(src|machines|examples\/reference-server)\/.+\.(js|d\.ts)$/.test(path) &&
        !/^docs\/(machines\/[a-z]+\.(md|svg)|[a-z-]+\.md)$/.test(path) &&
        !/^examples\/([a-z-]+(?<!\.test)\.ts|reference-server\/command-line\.ts)$/.test(path),
    );
    expect(stray).toEqual([]);
    const untyped = paths.filter(
      (path) =>
        /^dist\/(src|machines)\/.+\.js$/.test(path) && !paths.includes(path.replace(/\.js$/, '.d.ts')),
    );
    expect(untyped).toEqual([]);
  });

  it("the shipped examples' relative imports are files of the package", () => {
    const paths = new Set(packed.map((file) => file.path));
    const examples = [...paths].filter((path) => path.startsWith('examples/'));
    const unresolved: string[] = [];
    for (const example of examples) {
      const source = readFileSync(join(app, 'node_modules', 'ws-supervisor', example), 'utf8');
      for (const [, specifier] of source.matchAll(/from '(\.[^']+)'/g)) {
        const target = posix.join(posix.dirname(example), (specifier as string).replace(/\.js$/, '.ts'));
        if (!paths.has(target)) unresolved.push(`${example} → ${specifier}`);
      }
    }
    expect(examples.length).toBeGreaterThan(5);
    expect(unresolved).toEqual([]);
  });

  // Relative links work in node_modules, and on a registry's page that resolves them against the
  // package, only if their files ship (there is no repository URL to point at). A few stay out of
  // the package on purpose, and the README says, in the paragraph of each link, that it is in the
  // repository: the dashboard's screenshot (a 265 kB PNG), the benches, the tests and the sources.
  const repositoryOnly = [
    'bench/RESULTS.md',
    'bench/close-refusal.ts',
    'bench/socketio-server.ts',
    'docs/dashboard.png',
    'examples/client-ca.test.ts',
    'examples/client-headers.test.ts',
    'examples/client-tabs.test.ts',
    'examples/client-token.test.ts',
    'examples/react/use-client.ts',
    'examples/snapshot-parts.test.ts',
    'examples/tenants.test.ts',
    'examples/testing-your-app.test.ts',
    'examples/walking-the-machines.test.ts',
    'machines',
    'machines/client.machine.ts',
    'src',
    'test/model/model-machine.ts',
  ];
  it('every relative link of the packed README and docs pages is a file or folder of the package, or one of the few the page says are in the repository', () => {
    const installed = join(app, 'node_modules', 'ws-supervisor');
    const paths = packed.map((file) => file.path);
    const ships = (link: string) =>
      paths.some((path) => path === link || path.startsWith(`${link.replace(/\/$/, '')}/`));
    // Every page the package ships: the README, the guides in docs/ and the chart pages.
    const pages = paths.filter((path) => path === 'README.md' || /^docs\/.+\.md$/.test(path));
    expect(pages).toEqual(expect.arrayContaining(['README.md', 'docs/rules.md', 'docs/machines/hub.md']));
    const dead: string[] = [];
    const unsaid: string[] = [];
    const linked = new Set<string>();
    for (const page of pages) {
      const text = readFileSync(join(installed, page), 'utf8');
      for (const paragraph of text.replace(/^```[\s\S]*?^```/gm, '').split(/\n\s*\n/)) {
        for (const [, link] of paragraph.matchAll(/\]\((?![a-z]+:|#)([^)#\s]+)/g)) {
          // Relative to the page's folder: `../examples/x.ts` from docs/ is examples/x.ts.
          const path = posix.join(posix.dirname(page), link as string).replace(/\/$/, '');
          linked.add(path);
          if (repositoryOnly.includes(path)) {
            if (!/\brepository\b/.test(paragraph)) unsaid.push(`${page}: ${path}`);
          } else if (!ships(path)) {
            dead.push(`${page}: ${path}`);
          }
        }
      }
    }
    expect([...linked]).toEqual(
      expect.arrayContaining([
        'docs/machines/connection.svg',
        'docs/cluster-store.md',
        'docs/migrating-from-socket-io.md',
        'examples/fastify.ts',
      ]),
    );
    expect(dead).toEqual([]);
    expect(unsaid).toEqual([]);
    // The list is of links the README has, to files the package lacks.
    expect(repositoryOnly.filter((path) => !linked.has(path) || ships(path))).toEqual([]);
    // The chart pages link their pictures, next to them.
    const page = readFileSync(join(installed, 'docs/machines/hub.md'), 'utf8');
    expect(page).toContain('[hub.svg](hub.svg)');
  });

  // The machines' TSDoc said "see the diagram at the top of this file": a .d.ts has no such
  // diagram. It names the chart that ships instead, and that file is there.
  it("the machines' TSDoc points at charts that ship, not at a diagram the .d.ts lacks", () => {
    const installed = join(app, 'node_modules', 'ws-supervisor');
    const declarations = packed
      .map((file) => file.path)
      .filter((path) => /^dist\/machines\/.+\.machine\.d\.ts$/.test(path));
    expect(declarations.length).toBeGreaterThanOrEqual(7);
    const charts: string[] = [];
    for (const path of declarations) {
      const text = readFileSync(join(installed, path), 'utf8');
      expect(text, path).not.toMatch(/top of\s+(\*\s+)?this\s+(\*\s+)?file/);
      charts.push(...[...text.matchAll(/docs\/machines\/[a-z]+\.svg/g)].map((match) => match[0]));
    }
    expect(charts.length).toBeGreaterThanOrEqual(7);
    for (const chart of charts) expect(existsSync(join(installed, chart)), chart).toBe(true);
  });

  it('the ws-supervisor command: --version, and serve starts the reference server and drains on SIGTERM', async () => {
    const bin = join(app, 'node_modules', '.bin', 'ws-supervisor');
    const version = await run(bin, ['--version'], app);
    expectSuccess(version, 'ws-supervisor --version');
    expect(version.stdout.trim()).toBe(
      (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version,
    );
    const serve = spawn(bin, ['serve', '--port', '0'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    serve.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    serve.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const exited = once(serve, 'close'); // not 'exit': the last lines may still be in the pipe
    try {
      await vi.waitFor(() => expect(out).toMatch(/listening on ws:\/\/127\.0\.0\.1:\d+/), {
        timeout: 20_000,
        interval: 50,
      });
    } finally {
      serve.kill('SIGTERM');
    }
    const [code] = await exited;
    expect(code, out).toBe(0);
    expect(out).toContain('drained');
  }, 30_000);

  it('ships no source map that points at a file outside the package', () => {
    const paths = new Set(packed.map((file) => file.path));
    const installed = (path: string) =>
      readFileSync(join(app, 'node_modules', 'ws-supervisor', path), 'utf8');
    const dangling: string[] = [];
    for (const file of paths) {
      if (!/\.(js|d\.ts)$/.test(file)) continue;
      const url = installed(file).match(/\/\/# sourceMappingURL=(\S+)\s*$/)?.[1];
      if (url === undefined) continue;
      const map = posix.join(posix.dirname(file), url);
      if (!paths.has(map)) {
        dangling.push(`${file} → ${map}`);
        continue;
      }
      const { sources } = JSON.parse(installed(map)) as { sources: string[] };
      for (const source of sources) {
        const target = posix.join(posix.dirname(map), source);
        if (!paths.has(target)) dangling.push(`${map} → ${target}`);
      }
    }
    expect(dangling).toEqual([]);
  });
});
