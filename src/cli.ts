#!/usr/bin/env node
/**
 * The `ws-supervisor` command. `serve` runs the reference server, `chart`
 * draws the state charts. Each command is loaded only when it runs.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { guessName, sayGuess } from './closest-name.js';

const usage = `Usage: ws-supervisor <command> [options]

Commands:
  serve [options]   run the reference server (ws-supervisor serve --help)
  chart [options]   draw a machine's state chart (ws-supervisor chart --help)

Options:
  -h, --help        show this help
  -v, --version     print the version
`;

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    // A usage error: on stderr, so that `ws-supervisor > file` does not hide it, and said
    // first in a line of its own, as every other usage error of the CLI is.
    console.error(`error: no command given: serve or chart\n\n${usage}`);
    return 2;
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    console.log(usage);
    return 0;
  }
  if (command === '-v' || command === '--version') {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    console.log(pkg.version);
    return 0;
  }
  if (command === 'serve') {
    const { main } = await import('../examples/reference-server/main.js');
    return main(rest, process.env, 'ws-supervisor serve');
  }
  if (command === 'chart') {
    const { chartCommand } = await import('./chart/command.js');
    return chartCommand(rest);
  }
  console.error(`error: ${unknownCommand(command)}\n\n${usage}`);
  return 2;
}

/** What to say of a command the CLI does not know: the command it probably is, if any. */
function unknownCommand(command: string): string {
  // `npx ws-supervisor --port 8080`: the server's options come after its command.
  if (command.startsWith('-')) {
    return `unknown option ${JSON.stringify(command)}: options come after a command (ws-supervisor serve --port 8080)`;
  }
  const guess = guessName(command, ['serve', 'chart', 'help']);
  return `unknown command ${JSON.stringify(command)}${guess === undefined ? '' : `, did you mean ${sayGuess(guess.names)}?`}`;
}

/**
 * The CLI's own arguments. pm2's cluster mode runs the CLI in a node:cluster worker of its own
 * process, and a worker inherits the arguments of its primary: under `pm2-runtime start
 * eco.config.cjs` every worker's argv was `[node, ProcessContainer.js, 'start', 'eco.config.cjs',
 * 'serve', '--port', '8080']`, so the CLI took `start` for its command and every worker said
 * `unknown command "start"` while pm2 listed it online (seen with pm2 7.0). pm2 appends the app's
 * `args` last and also puts them, joined with commas, in the environment variable `args`: in a pm2
 * cluster worker the CLI's arguments are the one tail of argv that joins to that (tails of
 * different lengths join to strings of different lengths, so at most one does).
 */
function ownArguments(argv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const given = argv.slice(2);
  // A worker itself, not a process it started: its children inherit pm2's environment, not argv.
  if (!cluster.isWorker || env.pm_id === undefined || env.exec_mode !== 'cluster_mode') return given;
  if (env.args === undefined || env.args === '') return [];
  for (let start = given.length - 1; start >= 0; start--) {
    if (given.slice(start).join(',') === env.args) return given.slice(start);
  }
  return given;
}

process.exitCode = await run(ownArguments(process.argv, process.env));
// In a node:cluster worker (pm2's cluster mode, or a primary of your own) the IPC channel to the
// primary kept the process running after the server had drained and closed: the worker never
// exited and its primary waited for it. Nothing is left to say to the primary by now. A worker
// disconnects as a worker: a bare process.disconnect() makes Node's cluster code exit at once,
// before pending writes (pm2 writes a worker's output to its log file asynchronously: the last
// line, "drained; bye", was lost).
if (cluster.isWorker) cluster.worker?.disconnect();
else if (process.connected) process.disconnect();
