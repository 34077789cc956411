/**
 * A laid-out chart as a standalone SVG string (light theme, sans-serif).
 *
 * Made to be inlined in a live dashboard: every state is a
 * `<g class="state" data-state="<node id>">` holding its box and a
 * `<text class="state-label">`, with its child states nested inside it, so a
 * page can highlight a state or overlay a count with a CSS selector. A
 * composite state's listed lines (entry, internal transitions, exit) are in
 * `<g class="compartment" data-of="<node id>">`, painted after the arrows. Styling
 * is in presentation attributes (no `<style>`, nothing that leaks into the
 * host page, and a page's own CSS still wins), and the only ids (the arrow
 * markers) carry the machine id, escaped one to one (idPart), so two charts
 * can share a page. A `<g class="legend">` below the chart says what its styles mean (an event's
 * arrow, a delay's dashed one, a region's dashed box), as the Markdown page does in words.
 */
import type { ChartGraph } from './graph.js';
import { isNoteHeading, isParallelRoot } from './labels.js';
import {
  type Box,
  type ChartLayout,
  FONT,
  HISTORY_MARK,
  LABEL_INDENT,
  LINE_EDGE,
  labelWidth,
  layoutChart,
  type PlacedEdge,
  type PlacedState,
  type Point,
  round,
} from './layout.js';
import { textWidth } from './text-width.js';

const COLOR = {
  background: '#ffffff',
  text: '#111827',
  muted: '#4b5563',
  stateFill: '#eef4ff',
  stateStroke: '#3b5ba5',
  compoundFill: '#f8fafc',
  compoundStroke: '#64748b',
  regionStroke: '#94a3b8',
  finalFill: '#f1f5f9',
  edge: '#475569',
  delayEdge: '#b45309',
  noteFill: '#fffbeb',
  noteStroke: '#d6b656',
};

export async function toSvg(graph: ChartGraph): Promise<string> {
  return renderSvg(graph, await layoutChart(graph));
}

function renderSvg(graph: ChartGraph, layout: ChartLayout): string {
  const marker = `ws-supervisor-arrow-${idPart(graph.machine)}`;
  const parentType = new Map(graph.nodes.map((node) => [node.id, node.type]));
  // A parallel root's top-level states are regions: dashed, as a parallel state's are.
  const parallelRoot = isParallelRoot(graph);
  const legend = legendRows(graph);
  const height = round(layout.height + legend.length * LEGEND_ROW + LEGEND_PAD);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${height}" ` +
      `viewBox="0 0 ${layout.width} ${height}" font-family="sans-serif" font-size="${FONT.state}" ` +
      `class="ws-supervisor-chart" data-machine="${xml(graph.machine)}">`,
    `  <title>${xml(graph.machine)} state chart</title>`,
    '  <defs>',
    // One marker per colour: `fill="context-stroke"` is not drawn by every SVG viewer.
    arrowhead(marker, COLOR.edge),
    arrowhead(`${marker}-delay`, COLOR.delayEdge),
    '  </defs>',
    `  <rect class="background" width="${layout.width}" height="${height}" fill="${COLOR.background}"/>`,
  ];

  const drawState = (placed: PlacedState, indent: string) => {
    const { node } = placed;
    const region = node.parent === null ? parallelRoot : parentType.get(node.parent) === 'parallel';
    const container = node.type === 'compound' || node.type === 'parallel';
    out.push(`${indent}<g class="state ${node.type}" data-state="${xml(node.id)}">`);
    const fill = container ? COLOR.compoundFill : node.type === 'final' ? COLOR.finalFill : COLOR.stateFill;
    const stroke = region ? COLOR.regionStroke : container ? COLOR.compoundStroke : COLOR.stateStroke;
    const dash = region ? ' stroke-dasharray="6 4"' : '';
    out.push(`${indent}  ${rect(placed, 8, fill, stroke, 1.4, dash)}`);
    if (node.type === 'final')
      out.push(`${indent}  ${rect(inset(placed, 3), 6, 'none', COLOR.stateStroke, 1.2)}`);
    const labelY = container ? placed.y + 19 : placed.y + 20;
    // A history state, as UML draws one: a circled H, here on the left of its name.
    const history = node.type === 'history';
    const labelX = container
      ? placed.x + 10
      : round(placed.x + placed.width / 2 + (history ? HISTORY_MARK / 2 : 0));
    if (history) {
      const cx = round(labelX - textWidth(node.key, FONT.state) / 2 - HISTORY_MARK / 2);
      const cy = placed.y + 15;
      out.push(
        `${indent}  <g class="history-mark"><circle cx="${cx}" cy="${cy}" r="8" fill="none" ` +
          `stroke="${COLOR.stateStroke}" stroke-width="1.2"/><text x="${cx}" y="${cy + 4}" ` +
          `text-anchor="middle" font-size="${FONT.listed}" font-weight="600" fill="${COLOR.text}">H</text></g>`,
      );
    }
    const anchor = container ? 'start' : 'middle';
    out.push(
      `${indent}  <text class="state-label" x="${labelX}" y="${labelY}" text-anchor="${anchor}" ` +
        `font-weight="600" fill="${COLOR.text}">${xml(node.key)}</text>`,
    );
    if (placed.listed.length > 0) {
      const top = placed.y + 28;
      out.push(
        `${indent}  <line class="divider" x1="${placed.x}" y1="${top}" x2="${round(placed.x + placed.width)}" ` +
          `y2="${top}" stroke="${container ? COLOR.compoundStroke : COLOR.stateStroke}" stroke-width="0.8"/>`,
      );
      // A composite's lines sit in its header, where arrows into its children pass: they are
      // painted after the arrows (see compartments), or an arrow ran through the words.
      if (container) compartments.push(placed);
      else out.push(...listedLines(placed, `${indent}  `));
    }
    if (placed.initial !== undefined && placed.initialPath !== undefined) {
      drawInitial(placed.initial, placed.initialPath, `${indent}  `);
    }
    for (const child of placed.children) drawState(child, `${indent}  `);
    out.push(`${indent}</g>`);
  };

  const listedLines = (placed: PlacedState, indent: string) =>
    placed.listed.map(
      (line, index) =>
        `${indent}<text class="internal" x="${placed.x + 8}" y="${round(placed.y + 28 + 15 + index * 15)}" ` +
        `font-size="${FONT.listed}" fill="${COLOR.muted}">${xml(line)}</text>`,
    );
  const compartments: PlacedState[] = [];

  const drawInitial = (dot: Box, path: Point[], indent: string) => {
    const r = round(dot.width / 2);
    out.push(
      `${indent}<g class="initial"><circle cx="${round(dot.x + r)}" cy="${round(dot.y + r)}" r="${r}" fill="${COLOR.text}"/>` +
        `<path d="${d(path)}" fill="none" stroke="${COLOR.edge}" stroke-width="1.3" marker-end="url(#${marker})"/></g>`,
    );
  };

  out.push('  <g class="states">');
  if (layout.initial !== undefined && layout.initialPath !== undefined) {
    drawInitial(layout.initial, layout.initialPath, '    ');
  }
  for (const placed of layout.states) drawState(placed, '    ');
  out.push('  </g>');

  if (layout.note !== undefined) {
    const note = layout.note;
    out.push('  <g class="note">');
    out.push(`    ${rect(note, 3, COLOR.noteFill, COLOR.noteStroke, 1)}`);
    note.lines.forEach((line, index) => {
      const weight = isNoteHeading(graph, line) ? ' font-weight="600"' : '';
      out.push(
        `    <text x="${note.x + 10}" y="${round(note.y + 18 + index * 15)}" font-size="${FONT.listed}"${weight} ` +
          `fill="${COLOR.text}">${xml(line)}</text>`,
      );
    });
    out.push('  </g>');
  }

  out.push('  <g class="edges">');
  for (const placed of layout.edges) drawEdge(placed);
  out.push('  </g>');
  if (compartments.length > 0) {
    // A backing as wide as the longest line, as edge labels have: a crossing arrow stops at the words.
    out.push('  <g class="compartments">');
    for (const placed of compartments) {
      const width = Math.max(...placed.listed.map((line) => textWidth(line, FONT.listed))) + 8;
      const backing: Box = {
        x: placed.x + 4,
        y: placed.y + 31,
        width,
        height: placed.listed.length * 15 + 1,
      };
      out.push(`    <g class="compartment" data-of="${xml(placed.node.id)}">`);
      out.push(`      ${rect(backing, 3, COLOR.compoundFill, 'none', 0, ' fill-opacity="0.85"')}`);
      out.push(...listedLines(placed, '      '));
      out.push('    </g>');
    }
    out.push('  </g>');
  }
  // The legend, below the chart: what the styles mean, which the Markdown page says in words.
  out.push('  <g class="legend">');
  legend.forEach((row, index) => {
    const y = round(layout.height + LEGEND_PAD / 2 + index * LEGEND_ROW + LEGEND_ROW / 2);
    const x = 12;
    if (row.kind === 'region') {
      out.push(
        `    <rect x="${x}" y="${y - 6}" width="28" height="12" rx="3" fill="none" stroke="${COLOR.regionStroke}" ` +
          'stroke-width="1.4" stroke-dasharray="6 4"/>',
      );
    } else {
      const color = row.kind === 'delay' ? COLOR.delayEdge : COLOR.edge;
      const dash = row.kind === 'delay' ? ' stroke-dasharray="5 3"' : '';
      const head = row.kind === 'delay' ? `${marker}-delay` : marker;
      out.push(
        `    <path d="M ${x} ${y} L ${x + 28} ${y}" fill="none" stroke="${color}" stroke-width="1.3"${dash} ` +
          `marker-end="url(#${head})"/>`,
      );
    }
    out.push(
      `    <text x="${x + 36}" y="${y + 4}" font-size="${FONT.listed}" fill="${COLOR.muted}">${xml(row.text)}</text>`,
    );
  });
  out.push('  </g>');
  out.push('</svg>');
  return `${out.join('\n')}\n`;

  function drawEdge({ source, target, delay, edges, lines, points, labelBox }: PlacedEdge) {
    const color = delay ? COLOR.delayEdge : COLOR.edge;
    const dash = delay ? ' stroke-dasharray="5 3"' : '';
    const events = edges.map((edge) => edge.event).join(' ');
    out.push(
      `    <g class="edge${delay ? ' delay' : ''}" data-source="${xml(source)}" data-target="${xml(target)}" ` +
        `data-events="${xml(events)}">`,
    );
    out.push(
      `      <path d="${d(points)}" fill="none" stroke="${color}" stroke-width="1.3"${dash} ` +
        `marker-end="url(#${delay ? `${marker}-delay` : marker})"/>`,
    );
    if (labelBox !== undefined) {
      const side = labelSide(labelBox, points);
      const x =
        side === 'end'
          ? labelBox.x + labelBox.width - 3
          : side === 'start'
            ? labelBox.x + 3
            : labelBox.x + labelBox.width / 2;
      // A white backing as wide as the text, so a crossing line never runs through a word.
      const width = labelWidth(lines) + 4;
      const left = side === 'end' ? x + 2 - width : side === 'start' ? x - 2 : x - width / 2;
      out.push(
        `      <rect x="${round(left)}" y="${labelBox.y}" width="${width}" height="${labelBox.height}" ` +
          `rx="3" fill="${COLOR.background}" fill-opacity="0.85"/>`,
      );
      // A wrapped label is set flush left in its backing, its wrapped lines indented, so each
      // label's first word stands out; right-aligned, the lines of two labels ran together.
      const wrapped = lines.some((line) => line.continued);
      const anchor = wrapped ? 'start' : side;
      lines.forEach((line, index) => {
        const at = wrapped ? left + 2 + line.indent * LABEL_INDENT : x;
        out.push(
          `      <text class="edge-label${line.continued ? ' continued' : ''}" x="${round(at)}" ` +
            `y="${round(labelBox.y + 12 + index * LINE_EDGE)}" text-anchor="${anchor}" font-size="${FONT.edge}" ` +
            `fill="${color}">${xml(line.text)}</text>`,
        );
      });
    }
    out.push('    </g>');
  }
}

/** Height of one legend row, and the space above and below the legend (px). */
const LEGEND_ROW = 16;
const LEGEND_PAD = 12;

interface LegendRow {
  kind: 'event' | 'delay' | 'region';
  text: string;
}

/**
 * The legend's rows: an event's arrow, a delay's (when the chart has one), a region's dashed box
 * (when it has a parallel state). Short, so the narrowest chart (refusal, 364px) holds them.
 */
function legendRows(graph: ChartGraph): LegendRow[] {
  const rows: LegendRow[] = [{ kind: 'event', text: 'event: EVENT [guard] / actions' }];
  if (graph.edges.some((edge) => edge.kind === 'delay')) {
    rows.push({ kind: 'delay', text: 'delay: a timer (see the page for its option)' });
  }
  if (isParallelRoot(graph) || graph.nodes.some((node) => node.type === 'parallel')) {
    rows.push({ kind: 'region', text: 'region: runs side by side with the others' });
  }
  return rows;
}

/**
 * The machine id as a part of an XML id, one to one: letters and digits as they are, any other
 * character as `_<hex code point>_`. Replacing them all with `_` gave `billing.v2` and
 * `billing-v2` the same markers, and `billing-delay` the delay marker of `billing`: two charts
 * on one page then drew with one another's. No `-` is left, so the `-delay` suffix stays apart.
 */
function idPart(machine: string): string {
  let out = '';
  for (const char of machine) {
    out += /^[A-Za-z0-9]$/.test(char) ? char : `_${(char.codePointAt(0) as number).toString(16)}_`;
  }
  return out;
}

function arrowhead(id: string, color: string): string {
  return (
    `    <marker id="${id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" ` +
    `orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="${color}"/></marker>`
  );
}

function rect(box: Box, radius: number, fill: string, stroke: string, width: number, extra = ''): string {
  return (
    `<rect x="${box.x}" y="${box.y}" width="${box.width}" height="${box.height}" rx="${radius}" ` +
    `fill="${fill}" stroke="${stroke}" stroke-width="${width}"${extra}/>`
  );
}

/**
 * ELK puts a label beside its edge; aligning the text to that side keeps a
 * stack of labels visibly attached to its own arrow rather than to a neighbour.
 */
function labelSide(label: Box, points: Point[]): 'start' | 'middle' | 'end' {
  const middle = label.y + label.height / 2;
  for (let index = 1; index < points.length; index++) {
    const a = points[index - 1] as Point;
    const b = points[index] as Point;
    if (a.x !== b.x || middle < Math.min(a.y, b.y) || middle > Math.max(a.y, b.y)) continue;
    if (a.x >= label.x + label.width - 1) return 'end';
    if (a.x <= label.x + 1) return 'start';
  }
  return 'middle';
}

function inset(box: Box, by: number): Box {
  return {
    x: round(box.x + by),
    y: round(box.y + by),
    width: round(box.width - 2 * by),
    height: round(box.height - 2 * by),
  };
}

function d(points: Point[]): string {
  return points.map((p, index) => `${index === 0 ? 'M' : 'L'} ${p.x} ${p.y}`).join(' ');
}

/**
 * Text for an element or a quoted attribute. A character XML 1.0 does not allow
 * (a control character, a lone surrogate) made the whole SVG unreadable: it is
 * U+FFFD. Line breaks and tabs are references, as a raw one in an attribute is
 * read as a space and `data-state` would no longer name its state.
 */
function xml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/[\n\r\t]/g, (char) => `&#${char.charCodeAt(0)};`)
    .replace(NOT_XML, '\ufffd');
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const NOT_XML = /[\0-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|\p{Cs}/gu;
