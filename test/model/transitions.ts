/**
 * The transitions and states of a machine definition, named so that a human
 * can find them in the source: `connection.draining: SOCKET_CLOSED → disposed`.
 * Read from the definition itself, so a transition added to a machine is
 * listed here without anyone touching the tests.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

export interface TransitionInfo {
  /** Unique, stable, readable: `<source id>: <event> [guard] → <targets>`. */
  key: string;
  source: string;
  /** The event as written in the machine: `SOCKET_CLOSED`, `after drainTimeout`, `always`. */
  event: string;
  targets: string[];
  guard: string | undefined;
}

/** `xstate.after.drainTimeout.connection.draining` → `after drainTimeout`. */
export function eventName(eventType: string, source: AnyStateNode): string {
  if (eventType === '') return 'always';
  const prefix = 'xstate.after.';
  const suffix = `.${source.id}`;
  if (eventType.startsWith(prefix) && eventType.endsWith(suffix)) {
    return `after ${eventType.slice(prefix.length, -suffix.length)}`;
  }
  return eventType;
}

function guardName(transition: AnyTransitionDefinition): string | undefined {
  const { guard } = transition;
  if (guard === undefined) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name || 'inline guard';
  return (guard as { type?: string }).type ?? 'inline guard';
}

function describe(transition: AnyTransitionDefinition, eventType: string): Omit<TransitionInfo, 'key'> {
  const targets = (transition.target ?? []).map((node: AnyStateNode) => node.id);
  return {
    source: transition.source.id,
    event: eventName(eventType, transition.source),
    targets,
    guard: guardName(transition),
  };
}

const keyOf = (t: Omit<TransitionInfo, 'key'>) =>
  `${t.source}: ${t.event}${t.guard ? ` [${t.guard}]` : ''} → ${t.targets.length > 0 ? t.targets.join(', ') : '(stays)'}`;

/** Every state node of the machine, root excluded, in definition order. */
export function allStateNodes(machine: AnyStateMachine): AnyStateNode[] {
  const nodes: AnyStateNode[] = [];
  const walk = (node: AnyStateNode) => {
    for (const child of Object.values(node.states) as AnyStateNode[]) {
      nodes.push(child);
      walk(child);
    }
  };
  walk(machine.root);
  return nodes;
}

/** The key of a transition taken at run time (as reported by `@xstate.microstep`). */
export function transitionKey(transition: AnyTransitionDefinition): string {
  return keyOf(describe(transition, transition.eventType));
}

/** Every transition of the machine, root included, in definition order. */
export function allTransitions(machine: AnyStateMachine): TransitionInfo[] {
  const found: TransitionInfo[] = [];
  for (const node of [machine.root, ...allStateNodes(machine)]) {
    for (const [eventType, transitions] of node.transitions as Map<string, AnyTransitionDefinition[]>) {
      for (const transition of transitions) {
        const info = describe(transition, eventType);
        found.push({ key: keyOf(info), ...info });
      }
    }
    for (const transition of (node.always ?? []) as AnyTransitionDefinition[]) {
      const info = describe(transition, '');
      found.push({ key: keyOf(info), ...info });
    }
  }
  const keys = found.map((t) => t.key);
  const duplicate = keys.find((key, i) => keys.indexOf(key) !== i);
  if (duplicate !== undefined) throw new Error(`two transitions share the key ${duplicate}`);
  return found;
}

/** The ids of every state node active in `value` (a machine snapshot's value). */
export function activeStateIds(machineId: string, value: unknown): string[] {
  const ids: string[] = [];
  const walk = (prefix: string, v: unknown) => {
    if (typeof v === 'string') {
      ids.push(`${prefix}.${v}`);
      return;
    }
    for (const [key, child] of Object.entries(v as Record<string, unknown>)) {
      ids.push(`${prefix}.${key}`);
      walk(`${prefix}.${key}`, child);
    }
  };
  walk(machineId, value);
  return ids;
}
