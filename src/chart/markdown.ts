/**
 * The Markdown page of a chart (docs/machines/<name>.md): a short intro, the
 * Mermaid block GitHub renders, the SVG next to it, and the machine's
 * vocabulary, so a reviewer reads the diff of a machine change in one place.
 */
import type { ChartGraph } from './graph.js';
import { toMermaid } from './mermaid.js';

/** What each of our machines is for; other machines get a generic line. */
const INTROS: Record<string, string> = {
  connection:
    'One actor per socket, owned by its user supervisor. It moves through `connecting → active → ' +
    'draining → disposed`; every path ends in `disposed` (final), and every wait on the peer is ' +
    'bounded by a named delay.',
  supervisor:
    "One actor per user with a live connection, owned by the hub. It keeps the user's slot book, " +
    'admits or refuses, evicts idle connections, and stops (`stopped`) with its last child.',
  hub:
    'The root actor, one per `createSupervisor()`. It routes admissions to user supervisors, ' +
    'enforces the process-wide limit, and drives shutdown until no supervisor is left.',
};

export function toMarkdown(name: string, graph: ChartGraph): string {
  const intro = INTROS[name] ?? `State chart of the \`${graph.machine}\` machine.`;
  const list = (items: string[]) =>
    items.length === 0 ? 'none' : items.map((item) => `\`${item}\``).join(', ');
  const delays = graph.delays.map((delay) =>
    delay.ms === undefined ? delay.name : `${delay.name} (${delay.ms} ms)`,
  );
  return [
    `# ${name} (\`${graph.machine}\` machine)`,
    '',
    '<!-- Generated from the machine definition by `npm run charts`; do not edit by hand. -->',
    '',
    intro,
    '',
    `Picture: [${name}.svg](${name}.svg) (delays are dashed there). A transition written inside a`,
    'state is internal: no state is exited or entered.',
    '',
    '```mermaid',
    toMermaid(graph).trimEnd(),
    '```',
    '',
    `- Events: ${list(graph.events)}`,
    `- Guards: ${list(graph.guards)}`,
    `- Delays: ${list(delays)}`,
    '',
  ].join('\n');
}
