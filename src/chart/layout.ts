/**
 * Lays a chart graph out with ELK (layered, top to bottom), nesting compound
 * and parallel states as ELK child graphs so that edges between levels are
 * routed around the boxes. elkjs is an optional peer dependency, loaded on
 * first use only: the runtime never pays for it, and apps that draw no SVG
 * need not install it.
 *
 * The result is in absolute coordinates (ELK's `json.shapeCoords` and
 * `json.edgeCoords` = ROOT), rounded to a tenth of a pixel, so the SVG text is
 * identical from run to run.
 */
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import { importOptionalPeer } from '../optional-peer.js';
import type { ChartGraph, ChartNode } from './graph.js';
import { type Arrow, arrows, childrenOf, compartment, isNoteHeading, rootNote } from './labels.js';
import { textWidth } from './text-width.js';

export const FONT = { state: 13, listed: 11, edge: 11 } as const;
const LINE = 15;
export const LINE_EDGE = 13;
const HEADER = 28;
const PAD = 12;
const INITIAL_SIZE = 12;
const ARROWHEAD = 8;
/** A composite's name: where svg.ts writes it (x + 10, baseline y + 19), and ELK's gap below a label. */
const NAME_LEFT = 10;
const NAME_HEIGHT = 23;
const NAME_GAP = 5;
/** The room a history state's circled H takes on the left of its name, gap included (svg.ts). */
export const HISTORY_MARK = 24;

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PlacedState extends Box {
  node: ChartNode;
  /** The lines written in the box (`compartment()`): entry actions, internal transitions, exit actions. */
  listed: string[];
  children: PlacedState[];
  /** Set on a compound state with an initial child: where its initial dot sits. */
  initial?: Box;
  /** Set when `initial`: the arrow from the dot to the initial child. */
  initialPath?: Point[];
}

export interface Point {
  x: number;
  y: number;
}

export interface PlacedEdge extends Arrow {
  /** The labels as drawn: a long one wrapped (`labelLines()`). */
  lines: LabelLine[];
  points: Point[];
  labelBox?: Box;
}

export interface ChartLayout extends Box {
  states: PlacedState[];
  edges: PlacedEdge[];
  /** The machine's initial dot and its arrow. */
  initial?: Box;
  initialPath?: Point[];
  /** The note for the machine root: its own entry and exit actions, and its transitions (taken in any state). */
  note?: Box & { lines: string[] };
}

/**
 * How ELK orders and places the states, set on the root and on every composite state: ELK
 * reads them per graph, and set on the root alone they left the order inside `connection` as
 * it was. ELK counts crossings, not length: in client.svg, ordering `connection`'s arrows by
 * the definition's order and by `connection`'s own layout put `after connectTimeout` (to
 * `waiting`, on the right) at the left of the row of labels between `connection` and the
 * states below, and `SOCKET_CLOSED [needsTheApp]`'s label at its far end, so the two ran out
 * round the picture to their words. Ordered by where the arrows go (a full hierarchical sweep,
 * not the definition's order) and placed by network simplex (which shortens arrows rather than
 * lining up blocks), each arrow's label sits between its two states.
 */
const ORDER_OPTIONS = {
  'elk.layered.considerModelOrder.strategy': 'NONE',
  'elk.layered.crossingMinimization.hierarchicalSweepiness': '1',
  'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
};

const ROOT_OPTIONS = {
  ...ORDER_OPTIONS,
  'elk.algorithm': 'layered',
  'elk.direction': 'DOWN',
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.edgeLabels.placement': 'CENTER',
  // A long label goes in the widest layer its arrow crosses, not in the middle one: with the
  // session expiry's arrow (heartbeat → draining) beside `active → draining`, the middle-layer
  // labels of the two filled the gap below `active`, and `active → disposed` ran ~350px out
  // round them and back (test/charts/svg.test.ts, "takes a short path").
  'elk.layered.edgeLabels.centerLabelPlacementStrategy': 'WIDEST_LAYER',
  'elk.layered.spacing.nodeNodeBetweenLayers': '36',
  'elk.layered.spacing.edgeNodeBetweenLayers': '14',
  'elk.spacing.nodeNode': '28',
  'elk.spacing.edgeNode': '14',
  'elk.spacing.edgeEdge': '10',
  'elk.spacing.edgeLabel': '3',
  'elk.padding': '[top=16,left=16,bottom=16,right=16]',
  'elk.json.shapeCoords': 'ROOT',
  'elk.json.edgeCoords': 'ROOT',
  'elk.randomSeed': '1',
};

/** elkjs, an optional peer dependency: imported on first use only (a type import costs nothing). */
const ELK_MODULE = 'elkjs/lib/elk.bundled.js';
type ElkBundled = { default: typeof import('elkjs/lib/elk.bundled.js') };

const elkId = {
  state: (id: string) => `state:${id}`,
  initial: (parent: string | null) => `initial:${parent ?? ''}`,
  note: 'note:root',
};

export async function layoutChart(graph: ChartGraph): Promise<ChartLayout> {
  // elk.bundled.js is CommonJS: Node's `default` is module.exports, which also
  // carries the class as its own `default` (the only spelling TypeScript types).
  // elkjs is an optional peer dependency: missing, it is a MissingPeerError.
  const { default: elkModule } = await importOptionalPeer<ElkBundled>('elkjs', ELK_MODULE, 'SVG charts');
  const elk = new elkModule.default();
  const listedOf = (id: string) => compartment(graph, id);
  const rootListed = rootNote(graph);
  const drawn = arrows(graph);

  // ELK routes an arrow it has to turn round (one to a state above its source, as the client's
  // RESUME back to `connection`) out of the source's bottom and into the target's top. Into a
  // composite state laid out with its children, that way runs round the whole picture, and two such
  // arrows drew one big unlabelled box round every state. Laid out again pointing down (target to
  // source) and drawn reversed, the arrow runs straight between the two states.
  let laid = await elk.layout(elkGraph(graph, drawn, rootListed, new Set()));
  const detours = new Set(
    drawn.flatMap((arrow, index) => (detoursAround(laid, arrow, `edge:${index}`) ? [index] : [])),
  );
  if (detours.size > 0) laid = await elk.layout(elkGraph(graph, drawn, rootListed, detours));

  const shapes = new Map<string, ElkNode>();
  const collect = (node: ElkNode) => {
    shapes.set(node.id, node);
    for (const child of node.children ?? []) collect(child);
  };
  collect(laid);
  const laidEdges = new Map<string, ElkExtendedEdge>();
  const collectEdges = (node: ElkNode) => {
    for (const edge of node.edges ?? []) laidEdges.set(edge.id, edge);
    for (const child of node.children ?? []) collectEdges(child);
  };
  collectEdges(laid);

  const place = (parent: string | null): PlacedState[] =>
    childrenOf(graph, parent).map((node) => {
      const placed: PlacedState = {
        ...box(shapes.get(elkId.state(node.id))),
        node,
        listed: listedOf(node.id),
        children: place(node.id),
      };
      if (node.type === 'compound') withInitial(placed, node.id);
      if (node.type === 'parallel') {
        // Stacked regions share the parallel state's full width, like UML's dashed compartments.
        for (const region of placed.children) {
          region.x = round(placed.x + PAD);
          region.width = round(placed.width - 2 * PAD);
        }
      }
      return placed;
    });
  const withInitial = (target: { initial?: Box; initialPath?: Point[] }, parent: string | null) => {
    const dot = shapes.get(elkId.initial(parent));
    const path = laidEdges.get(`initial-edge:${parent ?? ''}`);
    if (dot === undefined || path === undefined) return;
    target.initial = box(dot);
    target.initialPath = pointsOf(path);
  };

  const layout: ChartLayout = {
    ...box(laid),
    states: place(null),
    edges: drawn.map((arrow, index) => {
      const laidEdge = laidEdges.get(`edge:${index}`);
      const points = laidEdge ? pointsOf(laidEdge) : [];
      const placed: PlacedEdge = {
        ...arrow,
        lines: labelLines(arrow.labels),
        points: detours.has(index) ? points.reverse() : points,
      };
      const label = laidEdge?.labels?.[0];
      if (label !== undefined) placed.labelBox = box(label);
      return placed;
    }),
  };
  withInitial(layout, null);
  const note = shapes.get(elkId.note);
  if (note !== undefined) layout.note = { ...box(note), lines: rootListed };
  return layout;
}

function pointsOf(edge: ElkExtendedEdge): Point[] {
  const section = edge.sections?.[0];
  if (section === undefined) return [];
  return [section.startPoint, ...(section.bendPoints ?? []), section.endPoint].map((p) => ({
    x: round(p.x),
    y: round(p.y),
  }));
}

function box(shape: { x?: number; y?: number; width?: number; height?: number } | undefined): Box {
  return {
    x: round(shape?.x ?? 0),
    y: round(shape?.y ?? 0),
    width: round(shape?.width ?? 0),
    height: round(shape?.height ?? 0),
  };
}

/** A tenth of a pixel, and never `-0`, so the text is the same everywhere. */
export function round(value: number): number {
  return Math.round(value * 10) / 10 + 0;
}

/** ELK's input for the chart; the arrows at `reversed` go from their target to their source. */
function elkGraph(graph: ChartGraph, drawn: Arrow[], rootListed: string[], reversed: Set<number>): ElkNode {
  const edges: ElkExtendedEdge[] = [];
  const listedOf = (id: string) => compartment(graph, id);

  const childrenFor = (parent: string | null): ElkNode[] => {
    const nodes: ElkNode[] = [];
    const children = childrenOf(graph, parent);
    const initial = children.find((child) => child.initial === true);
    if (initial !== undefined) {
      nodes.push({ id: elkId.initial(parent), width: INITIAL_SIZE, height: INITIAL_SIZE });
      edges.push({
        id: `initial-edge:${parent ?? ''}`,
        sources: [elkId.initial(parent)],
        targets: [elkId.state(initial.id)],
      });
    }
    for (const child of children) {
      const listed = listedOf(child.id);
      const listedHeight = listed.length === 0 ? 0 : listed.length * LINE + 6;
      const listedWidth = Math.max(0, ...listed.map((line) => textWidth(line, FONT.listed)));
      const labelWidth = textWidth(child.key, FONT.state);
      if (child.type === 'compound' || child.type === 'parallel') {
        // Room below the lines for the arrowheads of arrows into the children, which cross them.
        const header = HEADER + listedHeight + (listed.length === 0 ? 0 : ARROWHEAD);
        nodes.push({
          id: elkId.state(child.id),
          // The name, in the top left corner, as a label ELK knows of: it routes arrows into the
          // children beside it, not through the word (ELK adds the label's height to the padding).
          labels: [{ text: child.key, width: NAME_LEFT + labelWidth + 4, height: NAME_HEIGHT }],
          layoutOptions: {
            ...ORDER_OPTIONS,
            'elk.nodeLabels.placement': '[H_LEFT, V_TOP, INSIDE]',
            'elk.padding': `[top=${header - NAME_HEIGHT - NAME_GAP},left=${PAD},bottom=${PAD},right=${PAD}]`,
            'elk.nodeSize.constraints': 'MINIMUM_SIZE',
            // Written (height, width): elkjs 0.12 reads a compound node's minimum transposed when
            // it lays out DOWN with INCLUDE_CHILDREN, and made `(width, height)` a box narrower
            // than its lines and as tall as they are wide (test/charts/svg.test.ts checks both).
            'elk.nodeSize.minimum': `(${header + 20}, ${Math.max(labelWidth, listedWidth) + 2 * PAD})`,
          },
          children: childrenFor(child.id),
        });
        if (child.type === 'parallel') stackRegions(child.id);
      } else {
        // A history state's name has its circled H (svg.ts) on its left.
        const nameWidth = labelWidth + (child.type === 'history' ? HISTORY_MARK : 0);
        nodes.push({
          id: elkId.state(child.id),
          width: Math.max(72, nameWidth + 2 * PAD, listedWidth + 2 * PAD),
          height: 30 + listedHeight + (child.type === 'final' ? 4 : 0),
        });
      }
    }
    return nodes;
  };

  // Parallel regions are stacked, not set side by side, by an edge that is laid out but never drawn:
  // a tall chart stays readable when a Markdown page scales it down to its column width.
  const stackRegions = (parallel: string) => {
    const regions = childrenOf(graph, parallel);
    for (let index = 1; index < regions.length; index++) {
      edges.push({
        id: `stack:${parallel}:${index}`,
        sources: [elkId.state((regions[index - 1] as ChartNode).id)],
        targets: [elkId.state((regions[index] as ChartNode).id)],
      });
    }
  };
  const rootChildren = childrenFor(null);
  if (rootListed.length > 0) {
    const lines = rootListed;
    rootChildren.push({
      id: elkId.note,
      width:
        Math.max(...lines.map((line) => textWidth(line, FONT.listed, isNoteHeading(graph, line)))) + 2 * PAD,
      height: lines.length * LINE + 12,
    });
  }
  drawn.forEach((arrow, index) => {
    const [from, to] = reversed.has(index) ? [arrow.target, arrow.source] : [arrow.source, arrow.target];
    edges.push({
      id: `edge:${index}`,
      sources: [elkId.state(from)],
      targets: [elkId.state(to)],
      labels: [
        {
          text: arrow.labels.join('\n'),
          width: labelWidth(labelLines(arrow.labels)) + 8,
          height: labelLines(arrow.labels).length * LINE_EDGE + 4,
        },
      ],
    });
  });
  return { id: 'root', layoutOptions: ROOT_OPTIONS, children: rootChildren, edges };
}

/**
 * True when ELK routed the arrow above the higher or below the lower of its two states (which
 * are apart): round the back of one of them rather than between them.
 */
function detoursAround(laid: ElkNode, arrow: Arrow, edgeId: string): boolean {
  const source = findNode(laid, elkId.state(arrow.source));
  const target = findNode(laid, elkId.state(arrow.target));
  const edge = findEdge(laid, edgeId);
  if (source === undefined || target === undefined || edge === undefined) return false;
  const [a, b] = [box(source), box(target)];
  const apart =
    a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
  if (!apart) return false;
  const ys = pointsOf(edge).map((point) => point.y);
  return (
    Math.min(...ys) < Math.min(a.y, b.y) - 1 || Math.max(...ys) > Math.max(a.y + a.height, b.y + b.height) + 1
  );
}

function findNode(node: ElkNode, id: string): ElkNode | undefined {
  if (node.id === id) return node;
  for (const child of node.children ?? []) {
    const found = findNode(child, id);
    if (found !== undefined) return found;
  }
  return undefined;
}

function findEdge(node: ElkNode, id: string): ElkExtendedEdge | undefined {
  const own = node.edges?.find((edge) => edge.id === id);
  if (own !== undefined) return own;
  for (const child of node.children ?? []) {
    const found = findEdge(child, id);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * How far a label's wrapped line is indented (px), and the widest a line gets before it wraps.
 * The labels of the arrows that cross a layer stand side by side in it, so their width adds up
 * across the chart: at 340px, client.svg was 1,701px wide and connection.svg 1,515px, and GitHub
 * shows a README's images about 880px wide (11px labels drawn at 6px). At 140px a long list of
 * actions goes one action a line, and a long action one param a line: client.svg is 1,197px wide
 * and connection.svg 1,151px. Narrower changes nothing: they are then as wide as their states and
 * arrows. (ELK's other node placements and label layers made connection.svg narrower only by
 * sending arrows round the picture: svg.test.ts, "takes a short path".)
 */
export const LABEL_INDENT = 12;
const LABEL_WRAP = 140;

export interface LabelLine {
  text: string;
  /** The line goes on with the label above it (it is indented); joined with a space, they are the label. */
  continued: boolean;
  /** How many LABEL_INDENTs the line is indented: 1 for an action, 2 for its params cut off. */
  indent: number;
}

/**
 * An arrow's labels as lines to draw. A label wider than LABEL_WRAP breaks after its trigger
 * (`BUFFER_OVERFLOWED /`), before its guard (`SOCKET_CLOSED` then `[needsTheApp] /`, indented)
 * and between its actions, and an action still wider between its params
 * (`recordEnd(reason: "slow-consumer",` then `closeCode: 4008),` indented once more, so the
 * params never read as an action of their own): a transition with two actions and their params
 * read as one line wider than the chart's states together. The guard's break keeps client.svg
 * within 1,200px (readme-width.test.ts) with `closing`'s two arrows to `closed`: the arrows out of
 * `connection` have their labels side by side in one layer, and their triggers were the widest
 * lines in it.
 */
function labelLines(labels: string[]): LabelLine[] {
  const lines: LabelLine[] = [];
  for (const label of labels) {
    const [first, ...rest] = breakPoints(label);
    let current = (first as Piece).text;
    let indent = 0;
    for (const piece of rest) {
      if (textWidth(`${current} ${piece.text}`, FONT.edge) + indent * LABEL_INDENT <= LABEL_WRAP) {
        current = `${current} ${piece.text}`;
        continue;
      }
      lines.push({ text: current, continued: indent > 0, indent });
      current = piece.text;
      indent = piece.indent;
    }
    lines.push({ text: current, continued: indent > 0, indent });
  }
  return lines;
}

/** The widest line of a label, indent included. */
export function labelWidth(lines: LabelLine[]): number {
  return Math.max(...lines.map((line) => textWidth(line.text, FONT.edge) + line.indent * LABEL_INDENT));
}

/** A trigger cut before its guard: `SOCKET_CLOSED`, `[needsTheApp] /` (indented once). */
function triggerPieces(trigger: string): Piece[] {
  const guard = trigger.indexOf(' [');
  if (guard < 0) return [{ text: trigger, indent: 0 }];
  return [
    { text: trigger.slice(0, guard), indent: 0 },
    { text: trigger.slice(guard + 1), indent: 1 },
  ];
}

/** A piece of a label, and how far its line is indented when it starts one. */
interface Piece {
  text: string;
  indent: number;
}

/**
 * A label cut where it may wrap, each piece keeping the separator before the cut:
 * `EVICT / a(x: 1, y: 2), b` is `EVICT /`, `a(x: 1,`, `y: 2),`, `b`: after the trigger, between
 * actions (indent 1) and between an action's params (indent 2). Commas deeper in the params or
 * in quoted strings are not places to cut. A trigger with a guard is cut before it too
 * (`SOCKET_CLOSED`, `[needsTheApp] /`, indent 1).
 */
function breakPoints(label: string): Piece[] {
  const slash = label.indexOf(' / ');
  if (slash < 0) return triggerPieces(label);
  const pieces: Piece[] = triggerPieces(label.slice(0, slash + 2));
  const actions = label.slice(slash + 3);
  let depth = 0;
  let quoted = false;
  let start = 0;
  let indent = 1;
  for (let index = 0; index < actions.length; index++) {
    const char = actions[index];
    if (quoted) {
      if (char === '\\') index++;
      else if (char === '"') quoted = false;
    } else if (char === '"') quoted = true;
    else if (char === '(') depth++;
    else if (char === ')') depth--;
    else if (char === ',' && depth <= 1 && actions[index + 1] === ' ') {
      pieces.push({ text: actions.slice(start, index + 1), indent });
      indent = depth === 0 ? 1 : 2;
      start = index + 2;
      index++;
    }
  }
  pieces.push({ text: actions.slice(start), indent });
  return pieces;
}
