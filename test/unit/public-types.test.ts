/**
 * The public types are usable by name: every interface, type alias, class or
 * enum of ours that an exported declaration refers to (an option's type, an
 * event payload, a field of the stats) is itself exported from an entry point
 * of the `exports` map, so an app can write it down (a `clock` of its own
 * needs `Clock`) instead of digging it out with `Parameters<…>`.
 */
import { readdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { InspectionEvent, Observer } from 'xstate';
import type { Client, ClientCloseEvent, ClientOptions, ClientRefusalReason } from '../../src/client/index.js';
import {
  type Authorize,
  checkAccess,
  createDashboard,
  type DashboardOptions,
} from '../../src/dashboard/index.js';
import type {
  AuthResult,
  DisposedEvent,
  OnceOptions,
  RejectReason,
  Supervisor,
  SupervisorOptions,
} from '../../src/index.js';
import type { Inspect } from '../../src/inspect.js';
import type { OpenRefusedError, RefusalAnswer } from '../../src/testing/index.js';
import { readPage } from '../helpers/docs.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
// The source of each entry point of package.json's "exports".
const entries = [
  'src/index.ts',
  'src/client/index.ts',
  'machines/index.ts',
  'src/dashboard/index.ts',
  'src/metrics/index.ts',
  'src/testing/index.ts',
].map((path) => `${root}${path}`);

/** `Name (file)` for each declaration of ours that the public API names but no entry point exports. */
function unexportedNames(): string[] {
  const program = ts.createProgram(entries, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const unalias = (symbol: ts.Symbol) =>
    symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const exported = new Set<ts.Symbol>();
  for (const entry of entries) {
    const file = program.getSourceFile(entry);
    const module = file === undefined ? undefined : checker.getSymbolAtLocation(file);
    if (module === undefined) throw new Error(`cannot read ${entry}`);
    for (const symbol of checker.getExportsOfModule(module)) exported.add(unalias(symbol));
  }
  const ours = (declaration: ts.Declaration) => {
    const path = declaration.getSourceFile().fileName;
    return path.startsWith(`${root}src/`) || path.startsWith(`${root}machines/`);
  };
  const missing = new Set<string>();
  const visited = new Set<ts.Symbol>();
  const visit = (symbol: ts.Symbol) => {
    if (visited.has(symbol)) return;
    visited.add(symbol);
    for (const declaration of symbol.declarations ?? []) {
      if (!ours(declaration)) continue;
      // Only what the declaration says about its type: a function's body or an initialiser is not API.
      const walk = (node: ts.Node): void => {
        if (ts.isBlock(node)) return;
        const name = ts.isTypeReferenceNode(node)
          ? node.typeName
          : ts.isExpressionWithTypeArguments(node) || ts.isTypeQueryNode(node)
            ? ts.isTypeQueryNode(node)
              ? node.exprName
              : node.expression
            : undefined;
        const referred = name === undefined ? undefined : checker.getSymbolAtLocation(name);
        if (referred !== undefined) {
          const target = unalias(referred);
          const [first] = target.declarations ?? [];
          if (first !== undefined && ours(first) && !ts.isTypeParameterDeclaration(first)) {
            if (!exported.has(target)) {
              const file = first.getSourceFile().fileName.slice(root.length);
              missing.add(`${target.name} (${file})`);
            }
            visit(target);
          }
        }
        ts.forEachChild(node, walk);
      };
      if (ts.isVariableDeclaration(declaration)) {
        if (declaration.type !== undefined) walk(declaration.type);
      } else {
        walk(declaration);
      }
    }
  };
  for (const symbol of exported) visit(symbol);
  return [...missing].sort();
}

describe('the public types', () => {
  it('every type of ours that an exported declaration names is exported by name', () => {
    expect(unexportedNames()).toEqual([]);
  }, 60_000);
});

describe('ClientRefusalReason', () => {
  it("names every RejectReason that reaches a client (all but 'socket-closed'), and keeps any other word", () => {
    expectTypeOf<ClientRefusalReason>().toEqualTypeOf<
      Exclude<RejectReason, 'socket-closed'> | (string & {})
    >();
    expectTypeOf<ClientCloseEvent['refusal']>().toEqualTypeOf<ClientRefusalReason | undefined>();
  });
});

describe('OpenRefusedError (ws-supervisor/testing)', () => {
  it("names what a serveForTest() app's open() rejects with for a refused upgrade: an Error with the answer", () => {
    expectTypeOf<OpenRefusedError>().toExtend<Error>();
    expectTypeOf<OpenRefusedError>().toExtend<RefusalAnswer>();
    expectTypeOf<Pick<OpenRefusedError, keyof RefusalAnswer>>().toEqualTypeOf<RefusalAnswer>();
  });
});

describe('AuthResult', () => {
  it('takes a per-user maxConnectionsPerUser (plan tiers): a number, or undefined for the option', () => {
    type Verdict = Extract<AuthResult, { userId: string }>;
    expectTypeOf<Verdict['maxConnectionsPerUser']>().toEqualTypeOf<number | undefined>();
    expectTypeOf({ userId: 'ann', maxConnectionsPerUser: 3 }).toExtend<AuthResult>();
    expectTypeOf({ userId: 'ann', maxConnectionsPerUser: '3' }).not.toExtend<AuthResult>();
  });

  // What AuthResult's TSDoc (and docs/admission.md) says: an unannotated authenticate's object is
  // not checked for unknown keys, an annotated one is. tsc checks these lines (npm test's typecheck).
  it('catches a misspelt key once authenticate says it returns an AuthResult', () => {
    const options = (): SupervisorOptions[] => [
      // Compiles: TypeScript checks no excess key in an arrow function's returned object.
      { authenticate: () => ({ userId: 'ann', expiresAtMs: 1 }) },
      // @ts-expect-error: 'expiresAtMs' does not exist in type AuthResult
      { authenticate: (): AuthResult => ({ userId: 'ann', expiresAtMs: 1 }) },
      // @ts-expect-error: 'expiresAtMs' does not exist in type AuthResult
      { authenticate: async (): Promise<AuthResult> => ({ userId: 'ann', expiresAtMs: 1 }) },
      // @ts-expect-error: 'expiresAtMs' does not exist in type AuthResult
      { authenticate: () => ({ userId: 'ann', expiresAtMs: 1 }) satisfies AuthResult },
    ];
    expect(typeof options).toBe('function');
  });
});

describe('hooks and listeners return unknown, not void', () => {
  // TypeScript takes an async function where `void` is asked for; typescript-eslint's
  // no-misused-promises does not. Only `unknown` lets an async onError or listener pass both.
  it("onError (the dashboard's too), inspect (the client's too), the hooks and the listeners of on()", () => {
    type Options = SupervisorOptions;
    expectTypeOf<ReturnType<NonNullable<Options['onError']>>>().toEqualTypeOf<unknown>();
    expectTypeOf<ReturnType<NonNullable<Options['onOpen']>>>().toEqualTypeOf<unknown>();
    expectTypeOf<ReturnType<NonNullable<Options['onMessage']>>>().toEqualTypeOf<unknown>();
    expectTypeOf<ReturnType<NonNullable<Options['onClose']>>>().toEqualTypeOf<unknown>();
    type InspectFunction = Extract<NonNullable<Options['inspect']>, (event: never) => unknown>;
    expectTypeOf<ReturnType<InspectFunction>>().toEqualTypeOf<unknown>();
    // The client's inspect too: isolateInspect() reports an async one's rejection, as the supervisor's.
    type ClientInspect = Extract<NonNullable<ClientOptions['inspect']>, (event: never) => unknown>;
    expectTypeOf<ReturnType<ClientInspect>>().toEqualTypeOf<unknown>();
    // The observer form too (`{ next: async (event) => … }`, its rejection reported), both options
    // written as isolateInspect() takes them; XState's own Observer (Stately's inspector) still fits.
    expectTypeOf<NonNullable<Options['inspect']>>().toEqualTypeOf<Inspect>();
    expectTypeOf<NonNullable<ClientOptions['inspect']>>().toEqualTypeOf<Inspect>();
    type InspectObserver = Exclude<Inspect, (event: never) => unknown>;
    expectTypeOf<ReturnType<NonNullable<InspectObserver['next']>>>().toEqualTypeOf<unknown>();
    expectTypeOf<ReturnType<NonNullable<InspectObserver['error']>>>().toEqualTypeOf<unknown>();
    expectTypeOf<ReturnType<NonNullable<InspectObserver['complete']>>>().toEqualTypeOf<unknown>();
    expectTypeOf<Observer<InspectionEvent>>().toExtend<Inspect>();
    // The dashboard's onError (its own, and checkAccess's): report() ignores an async one's rejection.
    expectTypeOf<ReturnType<NonNullable<DashboardOptions['onError']>>>().toEqualTypeOf<unknown>();
    expectTypeOf<ReturnType<Parameters<typeof checkAccess>[3]>>().toEqualTypeOf<unknown>();
    type Listener = Parameters<Supervisor['on']>[1];
    expectTypeOf<ReturnType<Listener>>().toEqualTypeOf<unknown>();
  });

  it("authenticate's correlationId takes null, what URLSearchParams.get answers for none", () => {
    expectTypeOf({ userId: 'ann', correlationId: null }).toExtend<AuthResult>();
    expectTypeOf({ userId: 'ann', correlationId: 7 }).not.toExtend<AuthResult>();
  });
});

describe('DashboardOptions', () => {
  // No open default: who may see the users is said at the call (tokenAuthorizer, a function, or
  // `() => true`). tsc checks the lines below (npm test's typecheck); none of them runs.
  it('requires authorize: createDashboard() without it does not compile', () => {
    expectTypeOf<DashboardOptions['authorize']>().toEqualTypeOf<Authorize>();
    expectTypeOf({}).not.toExtend<DashboardOptions>();
    expectTypeOf({ pollMs: 100 }).not.toExtend<DashboardOptions>();
    expectTypeOf({ authorize: () => true as const }).toExtend<DashboardOptions>();
    const calls = (supervisor: Supervisor) => [
      // @ts-expect-error: the options, and authorize in them, are required
      () => createDashboard(supervisor),
      // @ts-expect-error: authorize is required
      () => createDashboard(supervisor, {}),
      // @ts-expect-error: authorize is required
      () => createDashboard(supervisor, { basePath: '/ops' }),
      // @ts-expect-error: undefined is no authorize
      () => createDashboard(supervisor, { authorize: undefined }),
      () => createDashboard(supervisor, { authorize: () => true }),
    ];
    expect(typeof calls).toBe('function');
  });

  // checkAccess applies the same rule to an app's own routes: no open default there either.
  it("checkAccess's authorize is required: undefined does not compile", () => {
    expectTypeOf<Parameters<typeof checkAccess>[0]>().toEqualTypeOf<Authorize>();
    const calls = (request: IncomingMessage, response: ServerResponse) => [
      // @ts-expect-error: undefined is no authorize
      () => checkAccess(undefined, request, response, console.error),
      () => checkAccess(() => true, request, response, console.error),
    ];
    expect(typeof calls).toBe('function');
  });
});

describe('once()', () => {
  // once() takes (name, { matches?, signal? }): EventEmitter's listener does not compile (and
  // throws at run time: test/integration/once.test.ts); a type-guard matches narrows the result.
  it('takes { matches?, signal? }, not a listener, and narrows by a type guard', () => {
    const calls = (supervisor: Supervisor, client: Client) => [
      // @ts-expect-error: a listener is no options
      () => supervisor.once('admitted', () => {}),
      // @ts-expect-error: a listener is no options
      () => client.once('open', () => {}),
      // @ts-expect-error: matches answers a boolean (a block body that forgot `return` does not)
      () => supervisor.once('admitted', { matches: (event) => void event.userId }),
      // @ts-expect-error: an async matches answers a promise
      () => client.once('message', { matches: async () => true }),
      // @ts-expect-error: no third argument (the signature before { matches })
      () => supervisor.once('admitted', undefined, {}),
      () => supervisor.once('admitted', { signal: AbortSignal.abort() }),
    ];
    expect(typeof calls).toBe('function');
    const narrowed = (supervisor: Supervisor) =>
      supervisor.once('disposed', {
        matches: (event): event is DisposedEvent & { reason: 'evicted' } => event.reason === 'evicted',
      });
    expectTypeOf<Awaited<ReturnType<typeof narrowed>>['reason']>().toEqualTypeOf<'evicted'>();
    const whole = (client: Client) => client.once('close', { matches: (event) => event.code > 1000 });
    expectTypeOf<Awaited<ReturnType<typeof whole>>>().toEqualTypeOf<ClientCloseEvent>();
    expectTypeOf<OnceOptions<ClientCloseEvent>['matches']>().toEqualTypeOf<
      ((event: ClientCloseEvent) => boolean) | undefined
    >();
  });
});

describe('ws-supervisor/machines', () => {
  // The README (How it is built): every machine of machines/ is exported for charts and
  // tests, all but the dashboard's feed, which is internal to ws-supervisor/dashboard.
  it('exports every machine in machines/ but the dashboard feed', async () => {
    const files = readdirSync(`${root}machines`).filter((name) => name.endsWith('.machine.ts'));
    const machines = Object.keys(await import('../../machines/index.js')).filter((name) =>
      name.endsWith('Machine'),
    );
    expect(files).toHaveLength(machines.length + 1);
    expect(machines).not.toContain('dashboardFeedMachine');
    expect(files).toContain('dashboard-feed.machine.ts');
    const readme = readPage('docs/internals.md');
    expect(readme).toContain(
      "all but the\n  dashboard's feed, which is internal to `ws-supervisor/dashboard`",
    );
  });
});
