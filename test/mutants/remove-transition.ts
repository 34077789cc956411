/**
 * A mutant of a machine: the same machine with one transition removed, named
 * by its key (see test/model/transitions.ts). Only the state that holds the
 * transition is copied; the rest of the definition is shared. Of several
 * guarded transitions for one event, only the named one goes. An invoked
 * actor's `onDone` / `onError` (the lease machine's store calls) count as
 * transitions too: XState lists them under `xstate.done.actor.<id>`, and so does a
 * state's own `onDone` (the lease's parallel `reconciling`), under `xstate.done.state.<id>`.
 */
import { type AnyStateMachine, createMachine } from 'xstate';
import { allTransitions } from '../model/transitions.js';

type StateConfig = {
  on?: Record<string, unknown>;
  invoke?: unknown;
  after?: Record<string, unknown>;
  always?: unknown;
  onDone?: unknown;
  states?: Record<string, StateConfig>;
};

export function withoutTransition(machine: AnyStateMachine, key: string): AnyStateMachine {
  const transition = allTransitions(machine).find((t) => t.key === key);
  if (transition === undefined) throw new Error(`no transition ${key} in machine ${machine.id}`);
  const config: StateConfig = { ...(machine.config as StateConfig) };
  let node = config;
  for (const key of transition.source.split('.').slice(1)) {
    node.states = { ...node.states };
    const child: StateConfig = { ...node.states[key] };
    node.states[key] = child;
    node = child;
  }
  // Its place among the transitions of the same source and event, in definition order.
  const siblings = allTransitions(machine).filter(
    (t) => t.source === transition.source && t.event === transition.event,
  );
  const position = siblings.findIndex((t) => t.key === transition.key);
  const without = (written: unknown) =>
    Array.isArray(written) ? written.filter((_, index) => index !== position) : undefined;
  // Not one written under `on` (the user supervisor handles `xstate.done.actor.*` there).
  const invoked =
    node.on?.[transition.event] === undefined
      ? /^xstate\.(done|error)\.actor\./.exec(transition.event)
      : null;
  // Written as the state's own onDone (its regions all final), not under `on`.
  const stateDone =
    node.on?.[transition.event] === undefined && transition.event.startsWith('xstate.done.state.');
  if (transition.event === 'always') {
    // Eventless transitions have a key of their own, not an entry under `on`.
    node.always = without(node.always);
  } else if (stateDone) {
    const rest = without(node.onDone);
    if (rest === undefined) delete node.onDone;
    else node.onDone = rest;
  } else if (invoked !== null) {
    // Written as the invoke's onDone / onError (one invoke per state in our machines).
    if (Array.isArray(node.invoke)) throw new Error(`${transition.source} invokes several actors`);
    const invoke = { ...(node.invoke as Record<string, unknown>) };
    const slot = invoked[1] === 'done' ? 'onDone' : 'onError';
    const rest = without(invoke[slot]);
    if (rest === undefined) delete invoke[slot];
    else invoke[slot] = rest;
    node.invoke = invoke;
  } else {
    const [slot, name] = transition.event.startsWith('after ')
      ? (['after', transition.event.slice('after '.length)] as const)
      : (['on', transition.event] as const);
    const entries = { ...node[slot] };
    const rest = without(entries[name]);
    if (rest === undefined) delete entries[name];
    else entries[name] = rest;
    node[slot] = entries;
  }
  // biome-ignore lint/suspicious/noExplicitAny: the mutant has the machine's own shape
  return createMachine(config as any, machine.implementations as any);
}
