#!/usr/bin/env node
/**
 * The `ws-supervisor` command. `serve` runs the reference server, `chart`
 * draws the state charts. Each command is loaded only when it runs.
 */
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

process.exitCode = await run(process.argv.slice(2));
