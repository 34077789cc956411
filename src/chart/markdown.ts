/**
 * The Markdown page of a chart (docs/machines/<name>.md): a short intro, the
 * Mermaid block GitHub renders, a link to the SVG when one is written next to
 * it, and the machine's vocabulary, so a reviewer reads the diff of a machine
 * change in one place.
 */
import type { ChartGraph } from './graph.js';
import { edgeLabel, isStateDone } from './labels.js';
import { toMermaid } from './mermaid.js';

/** What each of our machines is for; other machines get a generic line. */
const INTROS: Record<string, string> = {
  connection:
    'One actor per socket, owned by its user supervisor. It moves through `connecting → active → ' +
    'draining → disposed`; every path ends in `disposed` (final), and every wait on the peer is ' +
    'bounded by a named delay. In `active.activity.live` messages reach the app with no step ' +
    "(`deliverDirectly`); the idle delay reads the transport's activity clock when it fires. " +
    "`live` means not idle here; the user supervisor's guards (`isLive`) say live for counted toward " +
    'the limit (`connecting` or `active`), idle or not.',
  supervisor:
    'One root actor per user with a connection, found by the runtime in a Map. It keeps the ' +
    "user's slot book, admits or refuses, evicts idle connections, lingers briefly after its last " +
    'child for a reconnect, and then stops (`stopped`). Its guards say `live` for counted, not ' +
    'for active: `isLive` is true of a child in `connecting` or `active` (not `draining`), counted ' +
    "in the user's live count `n` (*The rules* in docs/rules.md), idle or not. So `EVICT_CHILD [isLive]` " +
    '(cluster mode: the cluster-wide book has the user over the limit) evicts a counted child, ' +
    'whatever it is doing, and `isLiveAndNotIdle` is counted and not yet idle. (In the connection ' +
    'chart, `active.activity.live` is the other meaning: not idle.) The eviction threshold `T` is ' +
    "not drawn: it is the context's `evictAt`, which `adoptLimit` takes from each `ADMIT`, and only " +
    '`evictIdle` reads it (idle children go, longest idle first, while `n` is at `T` or above). ' +
    "`hasRoomAfterEviction` needs only the ADMIT's limit: `n` less the idle children must be below " +
    'it (`T` is at most the limit, so evicting down to `T` frees as much room as that). ' +
    '`CHILD_DRAINING` comes from a child entering `draining` (`notifyDraining`) and also from the ' +
    "runtime when the app's `close()` finds a child still counted: closed from an `admitted` " +
    'listener, a child still `connecting` goes to `disposed` without `draining`, and its supervisor ' +
    'still hears `CHILD_DRAINING`. Children it evicts or drains itself it books at once (no report). ' +
    '`forgetChild` stops an ended (or failed) child, frees its slot and announces `disposed`; ' +
    '`ends: true` on the edges to `stopped`, where that step also ends the supervisor (its user ' +
    'leaves the counts then, so a `disposed` listener of the last connection no longer counts it), ' +
    '`ends: false` where the supervisor stays (`supervising`, `lingering`, `shuttingDown`).',
  hub:
    "The runtime's lifecycle, one per `createSupervisor()`: it owns no connection and sits on no " +
    'per-connection path. It drives shutdown: every user supervisor drains, in chunks one turn of ' +
    'the event loop apart (`draining`, `nextTurn`), after batches one `batchInterval` apart ' +
    '(`pacing`) when paced; whatever is left at the deadline is terminated, and it stops when ' +
    'the last user supervisor has ended.',
  lease:
    "Cluster mode's lease, one per supervisor: it holds this node's lease in the cluster-wide " +
    'slot book and keeps the book honest with two timers, whatever the number of sockets. ' +
    '`renewal` renews the lease every `renewInterval` (at once on `RENEW_NOW`, when the store ' +
    'reconnects or answers again after an outage); a lost lease or work left by an outage sends it ' +
    'to `reconciling`, which books again what this node holds while `keepAlive` keeps the lease ' +
    'renewed beside it. `reaper` removes the entries of dead nodes every `reapInterval`. A failed ' +
    'start is retried every `retryInterval`.',
  watchdog:
    'One per Redis connection of the slot store (cluster mode): the deadlines of the commands in ' +
    'flight, checked by one periodic timer instead of one timer per command (Redis answers in ' +
    'order, so the oldest command is the first overdue). While anything is in flight it ticks ' +
    'every `period` (`checking` lets the connection fail what is overdue); with nothing in flight ' +
    'it is `idle` and holds no timer until the connection sends `WATCH`.',
  refusal:
    "One per refusal sent as a close frame (`refuse: 'close'`), so a browser can read why it was " +
    'refused; it holds no slot and belongs to no user. It completes the handshake, sends the close ' +
    'frame (4000 + the HTTP status, and a short reason) once the socket is open, and ends in ' +
    '`done` when the socket has closed; a peer that has not completed the close within ' +
    '`refusalTimeout`, a socket error or `TERMINATE` terminates the socket.',
  client:
    'The reconnecting client of `ws-supervisor/client`, one per `createClient()`; it ends only in ' +
    '`closed`, when the app calls `close()`. `connection` owns the socket: leaving it for any reason ' +
    'stops the socket actor. A closed socket leads, by its close code, to `waiting` (a backoff, a ' +
    'spread after a shutdown, or a prompt retry after an expired session, then `retryDelay`) or to ' +
    '`suspended` (evicted: until the user is active again; a normal close or a 4xx refusal: until ' +
    "the app's `RESUME`). With a " +
    'silence timeout, `open.watched` gives up a socket not heard from for the whole timeout (after ' +
    '`confirming`: one more turn of the event loop, for the messages already waiting in it), as ' +
    'a device going offline (`NETWORK_OFFLINE`) does; `closing` waits at most `closeTimeout` for ' +
    "the server's answer to the app's `close()`.",
  // The root is parallel (dashed regions in the SVG, regions split by `--` in Mermaid): say it in words too.
  dashboard:
    "The mounted dashboard's clock (`ws-supervisor/dashboard`): one actor per dashboard while at " +
    'least one of its event streams is open, stopped with the last, so no timer outlives it. ' +
    'Its two regions, `poll` and `burst`, run side by side: `poll` re-reads the counts every ' +
    '`pollInterval`; `burst` gathers the events `NOTICED` during a `batchWindow` into one flush.',
};

/** Options of `toMarkdown()`. */
export interface MarkdownOptions {
  /** The SVG (`<name>.svg`) is written next to the page: link it. Otherwise say how to draw it. */
  picture?: boolean;
}

/**
 * The page of chart `name`: its intro (ours have one each, another machine a generic line),
 * the Mermaid block, and the events, invoked actors, guards and delays it uses.
 */
export function toMarkdown(name: string, graph: ChartGraph, options: MarkdownOptions = {}): string {
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
  // A delay's name is not the option that sets it (`refusalTimeout` is `closeRefusalTimeoutMs`): say which.
  const delays = graph.delays.map((delay) => {
    const named = delay.ms === undefined ? `\`${delay.name}\`` : `\`${delay.name}\` (${delay.ms} ms)`;
    return delay.setBy === undefined ? named : `${named}: ${delay.setBy}`;
  });
  // The diagrams draw each guarded transition as its own arrow, in no order; XState tries those of
  // one state and event in definition order, and the first whose guard passes wins: list the order.
  const orders = new Map<string, string[]>();
  for (const edge of graph.edges) {
    if (edge.order === undefined && edge.fallback !== true) continue;
    const bare = { ...edge };
    delete bare.guard;
    delete bare.fallback;
    const trigger = edgeLabel(bare);
    const key = `\`${trigger}\` in ${edge.source === '' ? 'any state' : `\`${edge.source}\``}`;
    const step = edge.order === undefined ? '`[else]`' : `\`${edge.guard}\``;
    const steps = orders.get(key) ?? [];
    if (!steps.includes(step)) steps.push(step);
    orders.set(key, steps);
  }
  const ordered = [...orders].filter(([, steps]) => steps.length > 2 || !steps.includes('`[else]`'));
  return [
    `# ${name} (\`${graph.machine}\` machine)`,
    '',
    // `npm run charts` is our script; a user's pages come from the command itself, and so do ours.
    '<!-- Generated from the machine definition by `ws-supervisor chart`; do not edit by hand. -->',
    '',
    intro,
    '',
    ...(options.picture === true
      ? [`Picture: [${name}.svg](${name}.svg) (delays are dashed arrows there, and the regions of a`]
      : [
          `Picture: \`ws-supervisor chart --machine ${name} --format svg\` draws it (delays are dashed arrows there, and the regions of a`,
        ]),
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
    ...(ordered.length === 0
      ? []
      : [
          '- Guards tried in order (the diagram does not show it; the first that passes is taken):',
          ...ordered.map(([key, steps]) => `  - ${key}: ${steps.join(', ')}`),
        ]),
    ...(delays.length === 0
      ? ['- Delays: none']
      : ['- Delays, and the option or value each takes:', ...delays.map((delay) => `  - ${delay}`)]),
    '',
  ].join('\n');
}
