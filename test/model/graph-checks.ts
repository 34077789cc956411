/**
 * Static checks of a machine definition: read from its state nodes and
 * transitions, with no actor started.
 *
 * A configuration is the set of atomic states active at once (one per region
 * of a parallel state). From the initial configuration, every transition of
 * every active node (and of their ancestors) is followed, guards assumed
 * passable: this over-approximates what can happen, so "cannot reach the end"
 * is reported only when no transition at all leads there.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

type Config = readonly AnyStateNode[]; // atomic (or final) leaves, sorted by id

const ancestorsOf = (node: AnyStateNode): AnyStateNode[] => {
  const chain: AnyStateNode[] = [];
  for (let n = node.parent; n !== undefined; n = n.parent) chain.push(n);
  return chain;
};
const isDescendant = (node: AnyStateNode, of: AnyStateNode) => node === of || ancestorsOf(node).includes(of);
const children = (node: AnyStateNode) => Object.values(node.states) as AnyStateNode[];
const keyOf = (config: Config) => config.map((n) => n.id).join(' + ');

/** The leaves entered when `node` is entered by default. */
function initialLeaves(node: AnyStateNode): AnyStateNode[] {
  if (node.type === 'parallel') return children(node).flatMap(initialLeaves);
  if (node.type === 'compound') {
    const initial = (node.initial?.target ?? [])[0] as AnyStateNode | undefined;
    if (initial === undefined) throw new Error(`${node.id} has no initial state`);
    return initialLeaves(initial);
  }
  return [node];
}

/**
 * A transition's domain: the nearest compound (non-parallel) ancestor holding
 * both nodes, or the source itself when it targets one of its own descendants
 * without `reenter` (XState v5's default: e.g. a root-level `CLOSE: '.closed'`).
 */
function domainOf(source: AnyStateNode, target: AnyStateNode, reenter = false): AnyStateNode {
  if (!reenter && source.type === 'compound' && target !== source && isDescendant(target, source)) {
    return source;
  }
  for (const candidate of ancestorsOf(source)) {
    if (candidate.type !== 'parallel' && isDescendant(target, candidate)) return candidate;
  }
  throw new Error(`no common ancestor for ${source.id} and ${target.id}`);
}

function transitionsOf(node: AnyStateNode): AnyTransitionDefinition[] {
  const map = node.transitions as Map<string, AnyTransitionDefinition[]>;
  return [...[...map.values()].flat(), ...((node.always ?? []) as AnyTransitionDefinition[])];
}

/** The configurations `config` can move to by one transition of any active node. */
function successors(config: Config): Config[] {
  const active = new Set(config.flatMap((leaf) => [leaf, ...ancestorsOf(leaf)]));
  const next: Config[] = [];
  for (const node of active) {
    for (const transition of transitionsOf(node)) {
      const targets = (transition.target ?? []) as AnyStateNode[];
      if (targets.length === 0) continue; // targetless: the configuration stays
      for (const target of targets) {
        const domain = domainOf(transition.source, target, transition.reenter === true);
        const kept = config.filter((leaf) => !isDescendant(leaf, domain) || leaf === domain);
        const entered = initialLeaves(target);
        // Entering a region of a parallel state enters its other regions too.
        for (const ancestor of ancestorsOf(target)) {
          if (ancestor === domain) break;
          if (ancestor.type === 'parallel') {
            for (const region of children(ancestor)) {
              if (!isDescendant(target, region)) entered.push(...initialLeaves(region));
            }
          }
        }
        next.push([...kept, ...entered].sort((a, b) => a.id.localeCompare(b.id)));
      }
    }
  }
  return next;
}

export interface GraphFacts {
  /** Every reachable configuration, by key. */
  configurations: Map<string, Config>;
  /** Reachable configurations from which no final state can be reached. */
  stuck: string[];
}

export function exploreMachine(machine: AnyStateMachine): GraphFacts {
  const start = initialLeaves(machine.root);
  const configurations = new Map<string, Config>([[keyOf(start), start]]);
  const edges = new Map<string, Set<string>>();
  const queue: Config[] = [start];
  for (let config = queue.shift(); config !== undefined; config = queue.shift()) {
    const from = keyOf(config);
    const out = new Set<string>();
    edges.set(from, out);
    for (const next of successors(config)) {
      const key = keyOf(next);
      out.add(key);
      if (!configurations.has(key)) {
        configurations.set(key, next);
        queue.push(next);
      }
    }
  }
  // Walk backwards from every configuration holding a top-level final state.
  const canEnd = new Set(
    [...configurations]
      .filter(([, c]) => c.some((leaf) => leaf.type === 'final' && leaf.parent === machine.root))
      .map(([key]) => key),
  );
  for (let grew = true; grew; ) {
    grew = false;
    for (const [key, out] of edges) {
      if (!canEnd.has(key) && [...out].some((next) => canEnd.has(next))) {
        canEnd.add(key);
        grew = true;
      }
    }
  }
  return { configurations, stuck: [...configurations.keys()].filter((key) => !canEnd.has(key)) };
}

/** Non-final atomic states where `eventType` is handled neither by the state nor by an ancestor. */
export function statesNotHandling(machine: AnyStateMachine, eventType: string): string[] {
  const handles = (node: AnyStateNode) => (node.transitions as Map<string, unknown>).has(eventType);
  return allLeaves(machine.root)
    .filter((leaf) => leaf.type !== 'final' && ![leaf, ...ancestorsOf(leaf)].some(handles))
    .map((leaf) => leaf.id);
}

function allLeaves(node: AnyStateNode): AnyStateNode[] {
  const kids = children(node);
  return kids.length === 0 ? [node] : kids.flatMap(allLeaves);
}

/**
 * Reachable non-final configurations with no delayed transition on any
 * active node: nothing but the outside world could ever move them.
 */
export function configurationsWithoutDelay(facts: GraphFacts): string[] {
  const waiting: string[] = [];
  for (const [key, config] of facts.configurations) {
    if (config.some((leaf) => leaf.type === 'final' && leaf.parent?.parent === undefined)) continue;
    const active = new Set(config.flatMap((leaf) => [leaf, ...ancestorsOf(leaf)]));
    const hasDelay = [...active].some((node) => (node.after as unknown[]).length > 0);
    if (!hasDelay) waiting.push(key);
  }
  return waiting;
}
