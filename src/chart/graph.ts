/**
 * The chart graph: a machine definition flattened into plain, stable JSON.
 *
 * Every renderer (Mermaid, DOT, SVG) reads this graph, never the machine, so
 * what a reviewer sees in a diagram is exactly what the JSON says. The output
 * depends only on the definition, in definition order (lists of names are
 * sorted), so a committed chart diffs cleanly when a machine changes.
 *
 * Format (version 1):
 * - `nodes`: every state below the machine root, depth first in definition
 *   order. `id` is the dot path below the root (`active.heartbeat.beating`),
 *   `parent` the parent's id (null at the top), `initial: true` marks the
 *   initial child of a compound state (parallel regions are all entered, so
 *   none is marked). `entry` and `exit` name the state's entry and exit
 *   actions, in order (absent when it has none): what happens on the way in
 *   and out, such as a connection's `live` state handing messages to the app.
 * - `edges`: every transition, in definition order per state. `source` is a
 *   node id, or `''` for the machine root (a transition taken in any state).
 *   A targetless transition has `target` = `source` and `internal: true`; a
 *   transition that names its own state keeps `target` = `source`, with
 *   `reenter: true` when it exits and re-enters it. A transition with several
 *   targets yields one edge per target.
 *   `event` is XState's event type: `xstate.after.<delay>.<state id>` for a
 *   delay, `xstate.done.actor.<id>` / `xstate.error.actor.<id>` for an invoke's
 *   onDone / onError (or a wildcard handler of them), `xstate.done.state.<id>`
 *   for a state's onDone, and `''` for an eventless (`always`) transition.
 *   `kind` says which of those it is; `delay` names the delay and `delayMs`
 *   gives its length when the definition fixes it. `invoke` names the src of
 *   the state's own invoke on its done/error edges when XState made up its id.
 * - `entry`, `exit` (top level): the machine root's own entry and exit
 *   actions, as a state's (absent when it has none), such as a connection
 *   binding its transport when it starts.
 * - `events`, `guards`: sorted names used by the edges. `delays`: sorted, with
 *   `ms` when it is a number in the definition (ours read it from context), and,
 *   for ws-supervisor's own machines, `setBy`: the option or value it takes
 *   (`drainTimeout` is `drainTimeoutMs`), as Markdown.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { SupervisorError } from '../errors.js';
import { delaySettingOf } from './delays.js';

/** A state's XState type. */
export type ChartNodeType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

/** One state of the chart (see the format above). */
export interface ChartNode {
  /** Dot path below the machine root, e.g. `active.heartbeat.beating`. */
  id: string;
  /** The state's own key: the last part of `id`. */
  key: string;
  /** The parent state's id; null for a top-level state. */
  parent: string | null;
  /** atomic, compound, parallel, final or history. */
  type: ChartNodeType;
  /** True for the initial child of a compound state (absent otherwise). */
  initial?: boolean;
  /** Names of the state's entry actions (with fixed params, as `actions`), in order (absent when there are none). */
  entry?: string[];
  /** Names of the state's exit actions, in order (absent when there are none). */
  exit?: string[];
}

/** What takes a transition: an event, a delay, an eventless `always`, an invoke's or a state's done, or an error. */
export type ChartEdgeKind = 'event' | 'delay' | 'always' | 'done' | 'error';

/** One transition to one target (see the format above). */
export interface ChartEdge {
  /** A node id, or `''` for a transition defined on the machine root. */
  source: string;
  /** The node id it enters; the source's for a targetless transition. */
  target: string;
  /** XState's event type: `xstate.after.…` for a delay, `xstate.done.…`/`xstate.error.…`, `''` for `always`. */
  event: string;
  /** Which kind of event `event` is. */
  kind: ChartEdgeKind;
  /** The guard's name (absent when unguarded). */
  guard?: string;
  /**
   * An unguarded transition that follows guarded ones of its state for the same event or
   * delay: taken only when none of their guards passes (drawn `[else]`). Absent otherwise.
   */
  fallback?: true;
  /**
   * Where a guarded transition stands among the guarded ones of its state for the same event or
   * delay, from 1: XState tries them in this order and takes the first whose guard passes (drawn
   * `after heartbeatInterval 1. [isExpired]`, `2. [pongMissed]`, then `[else]`). Absent when the event has one guarded transition.
   */
  order?: number;
  /** The delay's name, on a `delay` edge. */
  delay?: string;
  /** The delay's length in ms, when the definition fixes it (ours read it from context: absent). */
  delayMs?: number;
  /** A targetless transition: no state is exited or entered. */
  internal?: boolean;
  /** The target is the source or its ancestor, and it is exited and re-entered. */
  reenter?: boolean;
  /** Names of the transition's actions, with their fixed params (`closeSocket(code: 4008, ...)`), in order (absent when there are none). */
  actions?: string[];
  /**
   * On a `done`/`error` edge of the state's own invoke whose id XState made up
   * (`0.lease.starting`): the invoked actor's `src`, which the label names instead.
   */
  invoke?: string;
}

/** A delay the edges use. */
export interface ChartDelay {
  /** The delay's name. */
  name: string;
  /** Its length in ms, when the definition fixes it. */
  ms?: number;
  /**
   * On ws-supervisor's own machines: the option or value the delay takes, as Markdown
   * (`` `drainTimeoutMs` `` for `drainTimeout`).
   */
  setBy?: string;
}

/** A machine definition flattened into plain, stable JSON (`machineGraph()`, `renderChart(…, { format: 'json' })`). */
export interface ChartGraph {
  /** Always 'ws-supervisor-chart': names this JSON. */
  format: 'ws-supervisor-chart';
  /** The format's version. */
  version: 1;
  /** The machine's id. */
  machine: string;
  /** Names of the machine root's own entry actions, in order (absent when there are none). */
  entry?: string[];
  /** Names of the machine root's own exit actions, in order (absent when there are none). */
  exit?: string[];
  /** True when the machine root is parallel: its top-level states are regions that run side by side (absent otherwise). */
  parallel?: boolean;
  /** Every state below the root, depth first in definition order. */
  nodes: ChartNode[];
  /** Every transition, in definition order per state. */
  edges: ChartEdge[];
  /** The event types the edges use, sorted. */
  events: string[];
  /** The guard names the edges use, sorted. */
  guards: string[];
  /** The delays the edges use, sorted by name. */
  delays: ChartDelay[];
}

/** The id of the machine root in `ChartEdge.source`. */
export const ROOT = '';

/**
 * Builds the chart graph of a machine definition (no actor is created).
 *
 * @param machine - an XState v5 machine, e.g. `connectionMachine`
 * @throws {SupervisorError} `WSSUP_INVALID_ARGUMENT` when `machine` is not an XState machine
 * @example
 * ```ts
 * import { connectionMachine, machineGraph } from 'ws-supervisor';
 * const graph = machineGraph(connectionMachine);
 * graph.nodes.map((node) => node.id); // ['connecting', 'active', 'active.activity', ...]
 * ```
 */
export function machineGraph(machine: AnyStateMachine): ChartGraph {
  assertMachine(machine);
  const nodes: ChartNode[] = [];
  const edges: ChartEdge[] = [];
  const delayMs = new Map<string, number | undefined>();
  const fixedDelays = (machine.implementations?.delays ?? {}) as Record<string, unknown>;
  const rootEntry = ownActions(machine.root, 'entry');
  const rootExit = ownActions(machine.root, 'exit');

  const visit = (stateNode: AnyStateNode) => {
    const id = pathOf(stateNode);
    if (stateNode.parent !== undefined) {
      const parent = stateNode.parent;
      const node: ChartNode = {
        id,
        key: stateNode.key,
        parent: parent.parent === undefined ? null : pathOf(parent),
        type: stateNode.type,
      };
      if (parent.type === 'compound' && parent.initial?.target.includes(stateNode)) node.initial = true;
      const entry = ownActions(stateNode, 'entry');
      const exit = ownActions(stateNode, 'exit');
      if (entry.length > 0) node.entry = entry;
      if (exit.length > 0) node.exit = exit;
      nodes.push(node);
    }

    const delayOf = new Map<string, string | number>();
    for (const delayed of stateNode.after) {
      const delay = delayed.delay;
      delayOf.set(delayed.eventType, typeof delay === 'function' ? 'inline' : delay);
    }

    // XState names an invoke without an id `<index>.<machine>.<path>`: a label naming that says
    // neither what was invoked nor anything the definition spells, so it names the src instead.
    const generatedInvokes = new Map<string, string>();
    stateNode.invoke.forEach((invoke: { id: string; src: unknown }, index: number) => {
      if (invoke.id !== `${index}.${stateNode.id}`) return;
      const src = typeof invoke.src === 'string' ? invoke.src : 'inline';
      generatedInvokes.set(`xstate.done.actor.${invoke.id}`, src);
      generatedInvokes.set(`xstate.error.actor.${invoke.id}`, src);
    });

    const transitions = [...stateNode.transitions.values()].flat();
    /** Per event of this state: whether a guarded transition, and an unguarded one, came yet. */
    const seen = new Map<string, { guarded: boolean; unguarded: boolean }>();
    /** Per event of this state: how many transitions are guarded, and how many of them came yet. */
    const guardedCount = new Map<string, number>();
    for (const transition of [...transitions, ...(stateNode.always ?? [])]) {
      if (transition.guard === undefined) continue;
      guardedCount.set(transition.eventType, (guardedCount.get(transition.eventType) ?? 0) + 1);
    }
    const guardedSoFar = new Map<string, number>();
    for (const transition of [...transitions, ...(stateNode.always ?? [])]) {
      const event = transition.eventType;
      const guard = guardName(transition.guard);
      // XState takes the first transition whose guard passes: the first unguarded one after
      // guarded ones is their fallback, and one after it is never taken.
      const before = seen.get(event) ?? { guarded: false, unguarded: false };
      const fallback = guard === undefined && before.guarded && !before.unguarded;
      let order: number | undefined;
      if (guard !== undefined) {
        order = (guardedSoFar.get(event) ?? 0) + 1;
        guardedSoFar.set(event, order);
        if ((guardedCount.get(event) ?? 0) < 2) order = undefined;
      }
      seen.set(event, {
        guarded: before.guarded || guard !== undefined,
        unguarded: before.unguarded || guard === undefined,
      });
      const delay = delayOf.get(event);
      let ms: number | undefined;
      if (delay !== undefined) {
        ms = typeof delay === 'number' ? delay : fixedMs(fixedDelays[delay]);
        delayMs.set(String(delay), ms);
      }
      const actions = transition.actions.map(actionName);
      const invoke = generatedInvokes.get(event);
      // Keys in one fixed order, so the JSON reads source → target first and diffs line by line.
      const edge = (target: string, flags: { internal?: boolean; reenter?: boolean }): ChartEdge => ({
        source: id,
        target,
        event,
        kind: kindOf(event),
        ...(guard === undefined ? {} : { guard }),
        ...(order === undefined ? {} : { order }),
        ...(fallback ? { fallback: true } : {}),
        ...(delay === undefined ? {} : { delay: String(delay) }),
        ...(ms === undefined ? {} : { delayMs: ms }),
        ...flags,
        ...(actions.length === 0 ? {} : { actions }),
        ...(invoke === undefined ? {} : { invoke }),
      });
      const targets: readonly AnyStateNode[] = transition.target ?? [];
      if (targets.length === 0) edges.push(edge(id, { internal: true }));
      for (const target of targets) {
        const reenter = transition.reenter && (target === stateNode || isAncestor(target, stateNode));
        edges.push(edge(pathOf(target), reenter ? { reenter: true } : {}));
      }
    }
    for (const child of Object.values(stateNode.states)) visit(child);
  };
  visit(machine.root);

  const namesOf = (kinds: ChartEdgeKind[]) =>
    sorted(new Set(edges.filter((edge) => kinds.includes(edge.kind)).map((edge) => edge.event)));
  return {
    format: 'ws-supervisor-chart',
    version: 1,
    machine: machine.id,
    ...(rootEntry.length === 0 ? {} : { entry: rootEntry }),
    ...(rootExit.length === 0 ? {} : { exit: rootExit }),
    ...(machine.root.type === 'parallel' ? { parallel: true } : {}),
    nodes,
    edges,
    events: namesOf(['event', 'done', 'error']),
    guards: sorted(new Set(edges.flatMap((edge) => (edge.guard === undefined ? [] : [edge.guard])))),
    delays: sorted(new Set(delayMs.keys())).map((name) => {
      const ms = delayMs.get(name);
      const setBy = delaySettingOf(machine, name);
      return { name, ...(ms === undefined ? {} : { ms }), ...(setBy === undefined ? {} : { setBy }) };
    }),
  };
}

/** Throws the typed argument error unless `value` looks like an XState v5 machine. */
export function assertMachine(value: unknown): asserts value is AnyStateMachine {
  const root = (value as { root?: unknown } | null)?.root as { states?: unknown; transitions?: unknown };
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof (value as { id?: unknown }).id !== 'string' ||
    typeof root !== 'object' ||
    root === null ||
    typeof root.states !== 'object' ||
    !(root.transitions instanceof Map)
  ) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      'Expected an XState v5 machine (the result of createMachine() or setup().createMachine()).',
    );
  }
}

/**
 * A state's entry or exit actions by name, without the `raise` and `cancel`
 * that XState adds to schedule and cancel the state's own `after` delays:
 * the chart draws those as the delays' dashed arrows.
 */
function ownActions(stateNode: AnyStateNode, which: 'entry' | 'exit'): string[] {
  // Reading `after` first: XState adds those actions when it first resolves the delays.
  const delayEvents = new Set<unknown>(stateNode.after.map((delayed) => delayed.eventType));
  const scheduling = (action: unknown) => {
    const { type, id, sendId } = action as { type?: unknown; id?: unknown; sendId?: unknown };
    return which === 'entry'
      ? type === 'xstate.raise' && delayEvents.has(id)
      : type === 'xstate.cancel' && delayEvents.has(sendId);
  };
  return stateNode[which].filter((action) => !scheduling(action)).map(actionName);
}

function pathOf(stateNode: AnyStateNode): string {
  return stateNode.path.join('.');
}

function isAncestor(ancestor: AnyStateNode, node: AnyStateNode): boolean {
  for (let parent = node.parent; parent !== undefined; parent = parent.parent) {
    if (parent === ancestor) return true;
  }
  return false;
}

function kindOf(event: string): ChartEdgeKind {
  if (event === '') return 'always';
  if (event.startsWith('xstate.after.')) return 'delay';
  if (event.startsWith('xstate.done.')) return 'done';
  if (event.startsWith('xstate.error.')) return 'error';
  return 'event';
}

function fixedMs(delay: unknown): number | undefined {
  return typeof delay === 'number' ? delay : undefined;
}

/**
 * A guard reads as its name, with its params when they are fixed; `and`/`or`/`not`
 * read as an expression of their parts; an inline function reads as its own name, or `inline`.
 */
function guardName(guard: unknown, nested = false): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') {
    const { type, params } = guard as { type: string; params?: unknown };
    return type + fixedParams(params);
  }
  if (typeof guard === 'function') {
    const { check, guards } = guard as { check?: { name?: string }; guards?: unknown[] };
    if (Array.isArray(guards)) {
      const parts = guards.map((part) => guardName(part, true) ?? 'inline');
      if (check?.name === 'checkNot') return `!${parts.length === 1 ? parts[0] : `(${parts.join(' && ')})`}`;
      const expression = parts.join(check?.name === 'checkOr' ? ' || ' : ' && ');
      return nested && parts.length > 1 ? `(${expression})` : expression;
    }
    return functionName(guard);
  }
  return 'inline';
}

/**
 * A guard's or an action's params when the definition fixes them, `(count: 3, role: "admin")`:
 * `isAtLeast` alone hid the rule, `closeSocket` the close code. Params computed from the event or
 * context (a function) are known only when the guard or action runs, so they add nothing.
 */
function fixedParams(params: unknown): string {
  if (params === null || typeof params !== 'object') return '';
  const entries = Object.entries(params).map(
    ([key, value]) => `${key}: ${JSON.stringify(value) ?? String(value)}`,
  );
  return `(${entries.join(', ')})`;
}

/**
 * An action reads as its name, with its params when they are fixed, as a guard does:
 * `closeSocket(code: 4008, reason: "slow consumer")` says which close code the transition sends.
 */
function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (action !== null && (typeof action === 'object' || typeof action === 'function')) {
    const { type, params } = action as { type?: unknown; params?: unknown };
    if (typeof type === 'string') return type + fixedParams(params);
  }
  return typeof action === 'function' ? functionName(action) : 'inline';
}

/** Inline arrows take the name of the property they were written in (`guard`, `actions`). */
function functionName(fn: { name?: string }): string {
  const name = fn.name ?? '';
  return name === '' || name === 'guard' || name === 'actions' ? 'inline' : name;
}

function sorted(values: Iterable<string>): string[] {
  return [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
