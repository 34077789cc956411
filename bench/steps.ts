/**
 * `node dist/bench/steps.js`: how much work XState does per churn cycle
 * (open, one echo, close), counted rather than timed, so the figure does not
 * depend on the machine's load. Real sockets on loopback; every inspection
 * event of every actor is counted by its machine:
 *   - events: events an actor processed (`@xstate.event`), each one a step;
 *   - actors: actors created (`@xstate.actor`).
 * Public API only, so that the same script measures any version.
 *
 *   node dist/bench/steps.js [--cycles 2000] [--users 1000] [--close clean|drop|both]
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import type { InspectionEvent } from 'xstate';
import { parseCommandLine, readCommandLine, usageError } from '../examples/reference-server/command-line.js';
import { createSupervisor } from '../src/index.js';

const usage = 'Usage: node dist/bench/steps.js [--cycles 2000] [--users 1000] [--close clean|drop|both]';
const commandLine = readCommandLine(usage, () =>
  parseCommandLine({
    options: {
      cycles: { type: 'string' },
      users: { type: 'string' },
      close: { type: 'string', default: 'both' },
      help: { type: 'boolean', short: 'h' },
    },
  }),
);
const args = commandLine.values;
if (!['clean', 'drop', 'both'].includes(args.close))
  usageError(usage, `--close must be clean, drop or both, not "${args.close}"`);
const cycles = commandLine.number('cycles', 2_000);
const users = commandLine.number('users', 1_000);

const counts = new Map<string, { events: number; actors: number }>();
const countOf = (machine: string) => {
  let count = counts.get(machine);
  if (count === undefined) {
    count = { events: 0, actors: 0 };
    counts.set(machine, count);
  }
  return count;
};
const inspect = (event: InspectionEvent) => {
  const machine = (event.actorRef as { logic?: { id?: string } }).logic?.id ?? '(other)';
  if (event.type === '@xstate.event') countOf(machine).events += 1;
  if (event.type === '@xstate.actor') countOf(machine).actors += 1;
};

const supervisor = createSupervisor({
  authenticate: (request) => new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('user'),
  onMessage: (connection, data, isBinary) => {
    connection.send(data, { binary: isBinary });
  },
  inspect,
});
const server = createServer();
supervisor.attach(server);
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = server.address() as AddressInfo;

for (let n = 0; n < cycles; n++) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/?user=u${n % users}`);
  await once(ws, 'open');
  ws.send('ping');
  await once(ws, 'message');
  const drop = args.close === 'drop' || (args.close === 'both' && n % 2 === 1);
  const gone = once(ws, 'close');
  if (drop) ws.terminate();
  else ws.close(1000);
  await gone;
}
// Let the last disposals land before counting.
while (supervisor.stats().connections > 0) await new Promise((resolve) => setTimeout(resolve, 5));

const rows = [...counts].sort(([a], [b]) => a.localeCompare(b));
let events = 0;
let actors = 0;
console.log(`${cycles} cycles over ${users} users (close: ${args.close})`);
console.log('| machine | events per cycle | actors created per cycle |');
console.log('| --- | --- | --- |');
for (const [machine, count] of rows) {
  events += count.events;
  actors += count.actors;
  console.log(
    `| ${machine} | ${(count.events / cycles).toFixed(2)} | ${(count.actors / cycles).toFixed(2)} |`,
  );
}
console.log(`| all | ${(events / cycles).toFixed(2)} | ${(actors / cycles).toFixed(2)} |`);
await supervisor.shutdown();
server.close();
