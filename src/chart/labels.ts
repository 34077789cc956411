/**
 * How an edge reads in every diagram, so Mermaid, DOT and SVG agree word for
 * word: `EVENT [guard] / actions`, `after connectTimeout`, `always [guard]`, and `[else]` for the
 * fallback after guarded transitions.
 */
import { type ChartEdge, type ChartGraph, type ChartNode, ROOT } from './graph.js';

/** The guard of a transition taken only when the guarded ones before it for the same event are not. */
const ELSE = 'else';

/**
 * The trigger of an edge, with its guard: `SOCKET_OPENED`, `after drainTimeout`, `ADMIT [hasRoomAfterEviction]`,
 * `onDone (renewLease)` for an invoke whose id XState made up, `onDone (every region final)` for a parallel state's own,
 * and `ADMIT [else]` for the fallback after guarded ones (the graph marks it: `fallback`).
 */
export function edgeLabel(edge: ChartEdge): string {
  let trigger: string;
  if (edge.kind === 'delay') {
    const name = edge.delay ?? edge.event;
    if (edge.delayMs === undefined) trigger = `after ${name}`;
    else if (name === String(edge.delayMs)) trigger = `after ${name} ms`;
    else trigger = `after ${name} (${edge.delayMs} ms)`;
  } else if (edge.kind === 'always') {
    trigger = 'always';
  } else if (edge.invoke !== undefined) {
    trigger = `${edge.kind === 'done' ? 'onDone' : 'onError'} (${edge.invoke})`;
  } else if (isStateDone(edge.event)) {
    // A parallel state's own onDone (the lease's `reconciling`; no machine here has a compound
    // state's): XState's event type names the state, which the arrow's source already does,
    // and not when it fires, which is what a reader needs.
    trigger = 'onDone (every region final)';
  } else {
    trigger = edge.event;
  }
  const guard = edge.guard ?? (edge.fallback === true ? ELSE : undefined);
  return guard === undefined ? trigger : `${trigger} [${guard}]`;
}

/**
 * A transition listed as text rather than drawn as an arrow:
 * `ADMIT [hasRoomAfterEviction] / evictIdle, admit`, or `CLOSE → closed` for a
 * root transition with a target.
 */
function listedLabel(edge: ChartEdge): string {
  const text = transitionLabel(edge);
  return edge.internal === true ? text : `${text} → ${edge.target}`;
}

/**
 * A transition as UML writes it, `EVENT [guard] / actions`, each action with its fixed params:
 * `BUFFER_OVERFLOWED / recordEnd(…), closeSocket(code: 4008, reason: "slow consumer")`. Arrows
 * and listed lines read alike, so a reviewer sees what a transition does wherever it is drawn.
 */
export function transitionLabel(edge: ChartEdge): string {
  const actions = edge.actions ?? [];
  return actions.length === 0 ? edgeLabel(edge) : `${edgeLabel(edge)} / ${actions.join(', ')}`;
}

/**
 * The lines written inside a state's box, in UML's order: `entry / actions`,
 * the internal transitions, `exit / actions`. For the machine root (`''`,
 * which has no box) its listed transitions alone.
 */
export function compartment(graph: ChartGraph, id: string): string[] {
  const node = id === ROOT ? undefined : graph.nodes.find((candidate) => candidate.id === id);
  const lines = listedEdges(graph, id).map(listedLabel);
  if (node?.entry !== undefined) lines.unshift(`entry / ${node.entry.join(', ')}`);
  if (node?.exit !== undefined) lines.push(`exit / ${node.exit.join(', ')}`);
  return lines;
}

/**
 * Transitions written inside their state instead of drawn (the UML "internal
 * transition" compartment): the targetless ones, and on the machine root
 * (`source` = `''`, which has no box) all of them. In definition order.
 */
function listedEdges(graph: ChartGraph, source: string): ChartEdge[] {
  return graph.edges.filter((edge) => edge.source === source && (source === ROOT || edge.internal === true));
}

/** Edges drawn as arrows: every edge between two states that changes state or re-enters one. */
export function drawnEdges(graph: ChartGraph): ChartEdge[] {
  return graph.edges.filter((edge) => edge.source !== ROOT && edge.internal !== true);
}

export function childrenOf(graph: ChartGraph, parent: string | null): ChartNode[] {
  return graph.nodes.filter((node) => node.parent === parent);
}

/** Whether the machine's root is parallel, so its top-level states are regions (the dashboard feed's `poll` and `burst`). */
export function isParallelRoot(graph: ChartGraph): boolean {
  return graph.parallel === true;
}

/** Heading of the note that lists the root's internal transitions. */
const ANY_STATE = 'in any state';

/**
 * The note for the machine root, which has no box: its own entry and exit
 * actions under `<machine> (the machine)`, then its transitions under
 * `in any state`. Each heading only when it has lines; empty when neither has.
 */
export function rootNote(graph: ChartGraph): string[] {
  const own = [
    ...(graph.entry === undefined ? [] : [`entry / ${graph.entry.join(', ')}`]),
    ...(graph.exit === undefined ? [] : [`exit / ${graph.exit.join(', ')}`]),
  ];
  const listed = compartment(graph, ROOT);
  return [
    ...(own.length === 0 ? [] : [machineHeading(graph), ...own]),
    ...(listed.length === 0 ? [] : [ANY_STATE, ...listed]),
  ];
}

/** Heading of the root note's entry and exit actions: `connection (the machine)`. */
function machineHeading(graph: ChartGraph): string {
  return `${graph.machine} (the machine)`;
}

/** Whether a line of `rootNote()` is one of its headings (drawn bold). */
export function isNoteHeading(graph: ChartGraph, line: string): boolean {
  return line === ANY_STATE || line === machineHeading(graph);
}

/**
 * One arrow per source, target and style: parallel transitions (five events
 * from `connecting` to `disposed`) share an arrow and stack their labels, and
 * delays get arrows of their own (the SVG draws them dashed).
 */
export interface Arrow {
  source: string;
  target: string;
  delay: boolean;
  edges: ChartEdge[];
  /** One `transitionLabel()` per edge, without repeats, in definition order. */
  labels: string[];
}

/** The drawn edges grouped into arrows, in the order of each arrow's first edge. */
export function arrows(graph: ChartGraph): Arrow[] {
  const byKey = new Map<string, Arrow>();
  for (const edge of drawnEdges(graph)) {
    const delay = edge.kind === 'delay';
    const key = JSON.stringify([edge.source, edge.target, delay]);
    let arrow = byKey.get(key);
    if (arrow === undefined) {
      arrow = { source: edge.source, target: edge.target, delay, edges: [], labels: [] };
      byKey.set(key, arrow);
    }
    arrow.edges.push(edge);
    const label = transitionLabel(edge);
    if (!arrow.labels.includes(label)) arrow.labels.push(label);
  }
  return [...byKey.values()];
}

/** The event XState makes up for a state's own onDone: `xstate.done.state.<state id>`. */
export function isStateDone(event: string): boolean {
  return event.startsWith('xstate.done.state.');
}
