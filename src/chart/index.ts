/**
 * State charts of XState v5 machines: ours (`charts`) or an app's own.
 * JSON, Mermaid and DOT are plain text built from the chart graph; SVG is
 * laid out by elkjs, which layout.ts loads only when an SVG is asked for.
 */
import type { AnyStateMachine } from 'xstate';
import { SupervisorError } from '../errors.js';
import { toDot } from './dot.js';
import { assertMachine, machineGraph } from './graph.js';
import { toMermaid } from './mermaid.js';
import { toSvg } from './svg.js';

export type {
  ChartDelay,
  ChartEdge,
  ChartEdgeKind,
  ChartGraph,
  ChartNode,
  ChartNodeType,
} from './graph.js';
export { type ChartName, charts } from './ours.js';
export { machineGraph };

/** The formats `renderChart()` writes. Frozen: renderChart() checks a format against this list. */
export const chartFormats = Object.freeze(['mermaid', 'dot', 'json', 'svg'] as const);
/** A format `renderChart()` writes: mermaid, dot, json or svg. */
export type ChartFormat = (typeof chartFormats)[number];

/** The options of `renderChart()`. */
export interface RenderChartOptions {
  /** What to write: Mermaid, Graphviz DOT, the chart graph as JSON, or SVG (needs elkjs). @default 'mermaid' */
  format?: ChartFormat | undefined;
}

/**
 * Draws a machine's state chart. The text depends only on the machine's
 * definition, so it can be committed and diffed.
 *
 * - `json`: the chart graph (`machineGraph()`), two-space indented.
 * - `mermaid`: `stateDiagram-v2`, for a Markdown code block (GitHub renders it).
 * - `dot`: Graphviz.
 * - `svg`: laid out with elkjs; each state is `<g class="state" data-state="<id>">`
 *   with a `<text class="state-label">`, for dashboards to highlight.
 *
 * @param machine - an XState v5 machine, e.g. `charts.connection` or your own
 * @param options - `format`, default `'mermaid'`
 * @throws {SupervisorError} `WSSUP_INVALID_ARGUMENT` (rejects) for options that are not an object, an unknown option or format, or a value that is not a machine
 * @example
 * ```ts
 * import { charts, renderChart } from 'ws-supervisor';
 * await writeFile('connection.svg', await renderChart(charts.connection, { format: 'svg' }));
 * ```
 */
export async function renderChart(
  machine: AnyStateMachine,
  options: RenderChartOptions = {},
): Promise<string> {
  // As every other options argument: a typo or a null must not silently give Mermaid.
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new SupervisorError('WSSUP_INVALID_ARGUMENT', 'renderChart options must be an object { format? }.');
  }
  for (const key of Object.keys(options)) {
    if (key !== 'format') {
      throw new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        `renderChart options: unknown key ${JSON.stringify(key)}, expected format.`,
      );
    }
  }
  const format = options.format === undefined ? 'mermaid' : options.format;
  if (!(chartFormats as readonly unknown[]).includes(format)) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `Unknown chart format ${JSON.stringify(format)}: expected one of ${chartFormats.join(', ')}.`,
    );
  }
  assertMachine(machine);
  const graph = machineGraph(machine);
  switch (format) {
    case 'json':
      return `${JSON.stringify(graph, null, 2)}\n`;
    case 'mermaid':
      return toMermaid(graph);
    case 'dot':
      return toDot(graph);
    case 'svg':
      return toSvg(graph);
  }
}
