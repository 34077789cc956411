/**
 * Graphviz DOT text (`dot -Tsvg connection.dot`). A compound or parallel state
 * is a cluster holding an invisible anchor node named after the state, so an
 * edge to or from the state is drawn to the cluster's border (`lhead`/`ltail`,
 * with `compound=true`), unless one end is inside the other's cluster (Graphviz
 * ignores the clip there, with a warning). Parallel regions, a parallel root's
 * too, are dashed clusters. The transitions between two states share one edge,
 * a label line each; delays get edges of their own, dashed, as in the SVG.
 */
import type { ChartGraph, ChartNode } from './graph.js';
import { type Arrow, arrows, childrenOf, compartment, isParallelRoot, rootNote } from './labels.js';

export function toDot(graph: ChartGraph): string {
  const byId = new Map(graph.nodes.map((node) => [node.id, node]));
  const isCluster = (id: string) => {
    const type = byId.get(id)?.type;
    return type === 'compound' || type === 'parallel';
  };
  /** Whether state `id` is `ancestor` or inside it. */
  const within = (id: string, ancestor: string) => {
    for (let at: string | null | undefined = id; at != null; at = byId.get(at)?.parent) {
      if (at === ancestor) return true;
    }
    return false;
  };
  const lines: string[] = [
    `// ${graph.machine.replace(/\r\n|[\r\n\u2028\u2029]/g, ' ')}: generated from the machine definition by ws-supervisor; do not edit.`,
    `digraph ${quote(graph.machine)} {`,
    '  graph [compound=true, rankdir=TB, fontname="sans-serif", fontsize=12, labeljust=l];',
    '  node [shape=box, style=rounded, fontname="sans-serif", fontsize=12];',
    '  edge [fontname="sans-serif", fontsize=10];',
  ];

  const block = (parent: string | null, parallelParent: boolean, indent: string) => {
    const children = childrenOf(graph, parent);
    const initial = children.find((child) => child.initial === true);
    if (initial !== undefined) {
      const marker = quote(`[*]${parent ?? ''}`);
      lines.push(`${indent}${marker} [shape=point, width=0.12, label=""];`);
      lines.push(
        `${indent}${marker} -> ${quote(initial.id)}${isCluster(initial.id) ? ` [lhead=${cluster(initial.id)}]` : ''};`,
      );
    }
    for (const child of children) {
      const listed = compartment(graph, child.id);
      if (child.type === 'compound' || child.type === 'parallel') {
        const style = parallelParent ? 'rounded,dashed' : 'rounded';
        lines.push(`${indent}subgraph ${cluster(child.id)} {`);
        lines.push(`${indent}  label=${quote(label(child, listed), true)}; style=${quote(style)};`);
        lines.push(`${indent}  ${quote(child.id)} [shape=point, style=invis, width=0, label=""];`);
        block(child.id, child.type === 'parallel', `${indent}  `);
        lines.push(`${indent}}`);
      } else {
        const shape =
          child.type === 'final' ? ', peripheries=2' : child.type === 'history' ? ', shape=circle' : '';
        lines.push(`${indent}${quote(child.id)} [label=${quote(label(child, listed), true)}${shape}];`);
      }
    }
  };
  block(null, isParallelRoot(graph), '  ');

  const rootListed = rootNote(graph);
  if (rootListed.length > 0) {
    lines.push(
      `  ${quote('[any]')} [shape=note, label=${quote(`${rootListed.map(escapeDot).join('\\l')}\\l`, true)}];`,
    );
  }
  for (const drawn of arrows(graph)) lines.push(`  ${arrow(drawn, isCluster, within)}`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

function arrow(
  { source, target, delay, labels }: Arrow,
  isCluster: (id: string) => boolean,
  within: (id: string, ancestor: string) => boolean,
): string {
  // One line per transition, left-aligned when there are several (`\l` ends each line).
  const text =
    labels.length === 1 ? escapeDot(labels[0] as string) : `${labels.map(escapeDot).join('\\l')}\\l`;
  const attributes = [`label=${quote(text, true)}`];
  // Clipped to a cluster's border only when the other end is outside it: Graphviz ignores
  // (and warns about) an ltail whose head is inside the tail's cluster, and the reverse.
  if (isCluster(source) && !within(target, source)) attributes.push(`ltail=${cluster(source)}`);
  if (isCluster(target) && !within(source, target)) attributes.push(`lhead=${cluster(target)}`);
  if (delay) attributes.push(`style=dashed, color="${DELAY_COLOR}", fontcolor="${DELAY_COLOR}"`);
  return `${quote(source)} -> ${quote(target)} [${attributes.join(', ')}];`;
}

/** The colour of a delay's edge, the SVG's. */
const DELAY_COLOR = '#b45309';

/** A state's label: its key, then its entry actions, internal transitions and exit actions, left-aligned. */
function label(node: ChartNode, listed: string[]): string {
  if (listed.length === 0) return escapeDot(node.key);
  return `${escapeDot(node.key)}\\n${listed.map(escapeDot).join('\\l')}\\l`;
}

function cluster(id: string): string {
  return quote(`cluster_${id}`);
}

/** A DOT string's text: `\` and `"` escaped, a line break as `\n` (a label shows it as one). */
function escapeDot(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\r\n|[\r\n]/g, '\\n');
}

/** A DOT string; `raw` when `value` is already escaped (labels with `\l` line ends). */
function quote(value: string, raw = false): string {
  return `"${raw ? value : escapeDot(value)}"`;
}
