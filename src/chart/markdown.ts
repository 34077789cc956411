/**
 * The Markdown page of a chart (docs/machines/<name>.md): a short intro, the
 * Mermaid block GitHub renders, the SVG next to it, and the machine's
 * vocabulary, so a reviewer reads the diff of a machine change in one place.
 */
import type { ChartGraph } from './graph.js';
import { isStateDone } from './labels.js';
import { toMermaid } from './mermaid.js';

/** What each of our machines is for; other machines get a generic line. */
const INTROS: Record<string, string> = {
  connection:
    'One actor per socket, owned by its user supervisor. It moves through `connecting → active → ' +
    'draining → disposed`; every path ends in `disposed` (final), and every wait on the peer is ' +
    'bounded by a named delay. In `active.activity.live` messages reach the app with no step ' +
    "(`deliverDirectly`); the idle delay reads the transport's activity clock when it fires.",
  supervisor:
    'One root actor per user with a connection, found by the runtime in a Map. It keeps the ' +
    "user's slot book, admits or refuses, evicts idle connections, lingers briefly after its last " +
    'child for a reconnect, and then stops (`stopped`).',
  hub:
    "The runtime's lifecycle, one per `createSupervisor()`: it owns no connection and sits on no " +
    'per-connection path. It drives shutdown: every user supervisor drains, at once or in ' +
    'batches one `batchInterval` apart (`pacing`), whatever is left at the deadline is ' +
    'terminated, and it stops when the last user supervisor has ended.',
  // The root is parallel, which the diagrams do not mark at the top level: say it here.
  dashboard:
    "The mounted dashboard's clock (`ws-supervisor/dashboard`): one actor per dashboard while at " +
    'least one of its event streams is open, stopped with the last, so no timer outlives it. ' +
    'Its two regions, `poll` and `burst`, run side by side: `poll` re-reads the counts every ' +
    '`pollInterval`; `burst` gathers the events `NOTICED` during a `batchWindow` into one flush.',
};

export function toMarkdown(name: string, graph: ChartGraph): string {
  const intro = INTROS[name] ?? `State chart of the \`${graph.machine}\` machine.`;
  const list = (items: string[]) =>
    items.length === 0 ? 'none' : items.map((item) => `\`${item}\``).join(', ');
  // The done and error of an invoke without an id are event types XState makes up
  // (`xstate.done.actor.0.lease.starting`): the page names the invoked src, as the diagram does.
  const invokeEvents = new Set(
    graph.edges.filter((edge) => edge.invoke !== undefined).map((edge) => edge.event),
  );
  const invoked = [
    ...new Set(graph.edges.flatMap((edge) => (edge.invoke === undefined ? [] : [edge.invoke]))),
  ].sort();
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
    `Picture: [${name}.svg](${name}.svg) (delays are dashed arrows there, and the regions of a`,
    "parallel state, which run side by side, dashed boxes). A state's box lists its `entry /` and",
    '`exit /` actions and its internal transitions: a transition written inside a state is',
    'internal, no state is exited or entered.',
    '',
    '```mermaid',
    toMermaid(graph).trimEnd(),
    '```',
    '',
    // Nor a state's own onDone's (`onDone` in the diagram): no one sends it.
    `- Events: ${list(graph.events.filter((event) => !invokeEvents.has(event) && !isStateDone(event)))}`,
    ...(invoked.length === 0 ? [] : [`- Invoked (onDone / onError): ${list(invoked)}`]),
    `- Guards: ${list(graph.guards)}`,
    `- Delays: ${list(delays)}`,
    '',
  ].join('\n');
}
