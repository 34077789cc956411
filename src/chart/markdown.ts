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
    "One actor per user with a live connection, owned by the user's shard. It keeps the user's slot book, " +
    'admits or refuses, evicts idle connections, and stops (`stopped`) with its last child.',
  shard:
    "A fixed layer between the hub and the user supervisors: one of the hub's shards, which owns the " +
    'supervisors of the users that hash to it, so that spawning or stopping one copies only this ' +
    "shard's children, not every user's. It ends (`stopped`) after shutdown, with its last supervisor.",
  hub:
    'The root actor, one per `createSupervisor()`. It spawns the user shards, routes each admission ' +
    "to its user's shard, enforces the process-wide limit, and drives shutdown until no shard is left.",
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
