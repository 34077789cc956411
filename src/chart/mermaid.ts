/**
 * Mermaid `stateDiagram-v2` text, as GitHub renders it in Markdown.
 *
 * Mermaid places a state in the last composite block that mentions it, so an
 * edge is written inside a composite block only when both of its ends are
 * direct children of that block; every other edge is written at the top
 * level, which never moves a state. Composite states cannot carry a
 * description in Mermaid, so only atomic states list their entry actions,
 * internal transitions and exit actions in their box; a composite state's
 * list, and the machine root's transitions, go in a note.
 *
 * Mermaid draws concurrency only inside a composite state, its regions
 * separated by `--`. A parallel root is therefore written as one composite
 * state named after the machine, entered from the start marker, as a nested
 * parallel state is; the root's note goes on it.
 */
import type { ChartGraph, ChartNode } from './graph.js';
import { type Arrow, arrows, childrenOf, compartment, isParallelRoot, rootNote } from './labels.js';

/**
 * Words Mermaid's state grammar (or its layout, for `root`) reserves. Its lexer
 * takes the longest match, so `scale` or `stateDiagram` before a space starts
 * a statement, and `default` alone is a keyword (`defaultMode` is an id).
 */
const RESERVED = new Set([
  'as',
  'class',
  'classdef',
  'click',
  'default',
  'direction',
  'end',
  'hide',
  'left',
  'note',
  'of',
  'right',
  'root',
  'scale',
  'state',
  'statediagram',
  'style',
]);

/** What a history state's box says in Mermaid, which has no history pseudostate (UML's circled H). */
const HISTORY_LINE = '(H) history';

export function toMermaid(graph: ChartGraph): string {
  const ids = mermaidIds(graph.nodes);
  // Named after the machine unless a state or Mermaid's grammar already has the name.
  const parallelRoot = isParallelRoot(graph)
    ? freeId(graph.machine, graph.machine, new Set(ids.values()))
    : undefined;
  const idOf = (nodeId: string) => ids.get(nodeId) ?? nodeId;
  const edges = arrows(graph);
  const lines: string[] = [
    'stateDiagram-v2',
    `  %% ${text(graph.machine)}: generated from the machine definition by ws-supervisor; do not edit.`,
  ];

  // Parallel transitions share one arrow, a label per line (`<br/>`), as in the SVG.
  const arrow = (edge: Arrow) =>
    `${idOf(edge.source)} --> ${idOf(edge.target)} : ${edge.labels.map(text).join('<br/>')}`;
  const parentOf = new Map(graph.nodes.map((node) => [node.id, node.parent]));
  const localTo = (parent: string | null) => (edge: Arrow) =>
    parent !== null && parentOf.get(edge.source) === parent && parentOf.get(edge.target) === parent;

  // One note per state: Mermaid's state book keeps one (a second `note … of X` replaces the
  // first; its current renderer draws both in one group, where the root's lines read as that
  // state's). So the root's note goes on a top-level state that has none of its own, the initial
  // one if it can; failing that, it is added to that state's note under its headings. A parallel
  // root has a box of its own, which takes it.
  const top = childrenOf(graph, null);
  const rootListed = rootNote(graph);
  const noteless = (node: ChartNode) =>
    (node.type !== 'compound' && node.type !== 'parallel') || compartment(graph, node.id).length === 0;
  const anchor =
    parallelRoot !== undefined
      ? undefined
      : (top.find((node) => node.initial === true && noteless(node)) ??
        top.find(noteless) ??
        top.find((node) => node.initial === true) ??
        top[0]);

  const block = (parent: string | null, parallel: boolean, indent: string) => {
    const children = childrenOf(graph, parent);
    const initial = children.find((child) => child.initial === true);
    if (initial !== undefined) lines.push(`${indent}[*] --> ${idOf(initial.id)}`);
    children.forEach((child, index) => {
      if (parallel && index > 0) lines.push(`${indent}--`);
      const id = idOf(child.id);
      if (child.type === 'compound' || child.type === 'parallel') {
        // Its name declared first, as an atomic state's, or Mermaid titles the box with the id (`s_a_b`).
        if (id !== child.key) lines.push(`${indent}state "${text(child.key)}" as ${id}`);
        lines.push(`${indent}state ${id} {`);
        block(child.id, child.type === 'parallel', `${indent}  `);
        lines.push(`${indent}}`);
        const listed = compartment(graph, child.id);
        if (child === anchor && listed.length > 0 && rootListed.length > 0)
          note(id, [...listed, ...rootListed], indent);
        else note(id, listed, indent);
        return;
      }
      // A state with descriptions needs its name declared first, or the first description becomes its title.
      // Mermaid has no history state: its box says so, first among its lines.
      const listed = [...(child.type === 'history' ? [HISTORY_LINE] : []), ...compartment(graph, child.id)];
      if (id !== child.key || listed.length > 0) lines.push(`${indent}state "${text(child.key)}" as ${id}`);
      else lines.push(`${indent}${id}`);
      for (const line of listed) lines.push(`${indent}${id} : ${text(line)}`);
    });
    if (parent !== null)
      for (const edge of edges.filter(localTo(parent))) lines.push(`${indent}${arrow(edge)}`);
    for (const child of children)
      if (child.type === 'final') lines.push(`${indent}${idOf(child.id)} --> [*]`);
  };

  if (parallelRoot === undefined) block(null, false, '  ');
  else {
    lines.push(`  [*] --> ${parallelRoot}`);
    if (parallelRoot !== graph.machine) lines.push(`  state "${text(graph.machine)}" as ${parallelRoot}`);
    lines.push(`  state ${parallelRoot} {`);
    block(null, true, '    ');
    lines.push('  }');
  }
  const nested = new Set(
    graph.nodes.filter((node) => node.parent !== null).flatMap((node) => edges.filter(localTo(node.parent))),
  );
  for (const edge of edges) if (!nested.has(edge)) lines.push(`  ${arrow(edge)}`);

  if (parallelRoot !== undefined) note(parallelRoot, rootListed, '  ');
  else if (anchor !== undefined && noteless(anchor)) note(idOf(anchor.id), rootListed, '  ');
  return `${lines.join('\n')}\n`;

  function note(id: string, labels: string[], indent: string) {
    if (labels.length === 0) return;
    lines.push(`${indent}note right of ${id}`);
    for (const label of labels) lines.push(`${indent}  ${text(label)}`);
    lines.push(`${indent}end note`);
  }
}

/**
 * Mermaid's ids are one flat namespace: a state keeps its key when the key is
 * unique in the machine and safe, else it gets its path (`a_b_c`).
 */
function mermaidIds(nodes: ChartNode[]): Map<string, string> {
  const keyCount = new Map<string, number>();
  for (const node of nodes) keyCount.set(node.key, (keyCount.get(node.key) ?? 0) + 1);
  const ids = new Map<string, string>();
  const used = new Set<string>();
  for (const node of nodes) {
    const id = keyCount.get(node.key) === 1 ? freeId(node.key, node.id, used) : freeId('', node.id, used);
    used.add(id);
    ids.set(node.id, id);
  }
  return ids;
}

/**
 * `name` when it is a safe id that `used` lacks, else the path id of `path`
 * (`s_a_b`, numbered when that is taken too).
 */
function freeId(name: string, path: string, used: ReadonlySet<string>): string {
  const safe = (value: string) =>
    /^[A-Za-z][A-Za-z0-9_]*$/.test(value) && !RESERVED.has(value.toLowerCase()) && !used.has(value);
  if (safe(name)) return name;
  const base = `s_${path.replace(/[^A-Za-z0-9]/g, '_')}`;
  let id = base;
  for (let n = 2; !safe(id); n++) id = `${base}_${n}`;
  return id;
}

/**
 * Entity codes for what Mermaid would read: `#`, `;`, `:` and `"` as syntax,
 * `<` and `>` as a tag (`a<b` lost its text). `&` stays: `isReady && !isBusy`
 * reads as it is, and the label sanitiser shows a lone `&` as itself.
 */
const ENTITIES: Record<string, string> = {
  '#': '#35;',
  ';': '#59;',
  ':': '#58;',
  '"': '#quot;',
  '<': '#60;',
  '>': '#62;',
};

/**
 * A label as Mermaid text. The characters in one pass, so that the `;` of one
 * code is never escaped again (`#` became `#35#59;`). A line break would end
 * the statement and start another: it is a space.
 */
function text(value: string): string {
  return (
    oneLine(value)
      .replace(/[#;:"<>]/g, (char) => ENTITIES[char] as string)
      // Read before any other rule, wherever they are on a line: `direction LR` as a direction
      // statement (the whole line), `end note` as the end of a note. A coded space breaks them.
      .replace(/(direction)\s+(?=tb|bt|rl|lr)/gi, '$1#32;')
      .replace(/(end)\s+(?=note)/gi, '$1#32;')
  );
}

function oneLine(value: string): string {
  return value.replace(/\r\n|[\r\n\u2028\u2029]/g, ' ');
}
