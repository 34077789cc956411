#!/usr/bin/env node
/**
 * The `ws-supervisor` command. `serve` runs the reference server, `chart`
 * draws the state charts. Each command is loaded only when it runs.
 */
import { readFileSync } from 'node:fs';

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
    // A usage error: on stderr, so that `ws-supervisor > file` does not hide it.
    console.error(usage);
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
  console.error(`error: unknown command ${JSON.stringify(command)}\n\n${usage}`);
  return 2;
}

process.exitCode = await run(process.argv.slice(2));
