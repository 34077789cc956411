/**
 * `ws-supervisor chart`, run as its own process on the built program (npm
 * test builds first), the way a user runs it; the table of refused flags is
 * read by chartCommand() in this process (one of them by the program too).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { chartCommand } from '../../src/chart/command.js';
import { charts, machineGraph, renderChart } from '../../src/chart/index.js';
import { toMarkdown } from '../../src/chart/markdown.js';
import { runProgram } from '../helpers/process.js';
import { scoped, scopedCase } from '../helpers/test-scope.js';
import { chartNames, cli, run, temporaryDirectory } from './cli-fixture.js';

/**
 * chartCommand() in this process, as src/cli.ts runs it for `chart`: its exit code, what it wrote
 * to stdout, and all it printed (console and stdout replaced for the call). A node process per
 * refused flag was most of this file's time; the program itself refuses one (below).
 */
async function chartInProcess(argv: string[]) {
  let stdout = '';
  let output = '';
  const spies = [
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      stdout += `${format(...args)}\n`;
      output += `${format(...args)}\n`;
    }),
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      output += `${format(...args)}\n`;
    }),
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      output += String(chunk);
      return true;
    }),
  ];
  try {
    const code = await chartCommand(argv);
    return { code, stdout, output };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

// Each test waits for processes of its own to start and exit: they run concurrently, and
// scoped/scopedCase keep each process's cleanup (and each temporary directory's) on its own test.
// A hang guard, not a speed check: up to five processes at once (vitest's maxConcurrency), each
// laying out SVGs, took more than the default 20 s on a 2-core machine loaded by other work.
describe('ws-supervisor chart', { concurrent: true, timeout: 60_000 }, () => {
  it(
    'prints the connection machine as Mermaid by default',
    scoped(async () => {
      const { code, stdout } = await run(['chart']);
      expect(code).toBe(0);
      expect(stdout).toBe(await renderChart(charts.connection, { format: 'mermaid' }));
    }),
  );

  it.for(['json', 'dot', 'mermaid'] as const)(
    'prints --machine hub --format %s',
    scopedCase(async (format) => {
      const { code, stdout } = await run(['chart', '--machine', 'hub', '--format', format]);
      expect(code).toBe(0);
      expect(stdout).toBe(await renderChart(charts.hub, { format }));
      if (format === 'json') expect(JSON.parse(stdout)).toEqual(machineGraph(charts.hub));
    }),
  );

  it(
    'writes one file with --out',
    scoped(async () => {
      const file = join(temporaryDirectory(), 'supervisor.svg');
      const { code, output } = await run([
        'chart',
        '--machine',
        'supervisor',
        '--format',
        'svg',
        '--out',
        file,
      ]);
      expect(code).toBe(0);
      expect(output).toContain(`wrote ${file}`);
      expect(readFileSync(file, 'utf8')).toBe(await renderChart(charts.supervisor, { format: 'svg' }));
    }),
  );

  it(
    '--machine all --out DIR writes one file per machine and format',
    scoped(async () => {
      const directory = temporaryDirectory();
      writeFileSync(join(directory, 'keep.txt'), 'not ours');
      const { code } = await run([
        'chart',
        '--machine',
        'all',
        '--format',
        'markdown',
        '--format',
        'json',
        '--out',
        join(directory, 'charts'),
      ]);
      expect(code).toBe(0);
      const written = readdirSync(join(directory, 'charts')).sort();
      expect(written).toEqual([
        'client.json',
        'client.md',
        'connection.json',
        'connection.md',
        'dashboard.json',
        'dashboard.md',
        'hub.json',
        'hub.md',
        'lease.json',
        'lease.md',
        'refusal.json',
        'refusal.md',
        'supervisor.json',
        'supervisor.md',
        'watchdog.json',
        'watchdog.md',
      ]);
      for (const name of chartNames) {
        expect(readFileSync(join(directory, 'charts', `${name}.md`), 'utf8')).toBe(
          toMarkdown(name, machineGraph(charts[name])),
        );
        expect(JSON.parse(readFileSync(join(directory, 'charts', `${name}.json`), 'utf8'))).toEqual(
          machineGraph(charts[name]),
        );
      }
    }),
  );

  // sync.test.ts renders in-process; this runs the very command of `npm run charts` (read from
  // package.json) on the built program, so the SVGs it writes are proven to be the committed ones too.
  it(
    '`npm run charts` writes docs/machines byte for byte',
    scoped(async () => {
      const directory = temporaryDirectory();
      const script: string = JSON.parse(readFileSync('package.json', 'utf8')).scripts.charts;
      const args = (script.split(`node ${cli} `)[1] ?? '').split(' ');
      expect(args.slice(-2)).toEqual(['--out', 'docs/machines']);
      const { code } = await run([...args.slice(0, -1), directory]);
      expect(code).toBe(0);
      const committed = readdirSync('docs/machines').sort();
      expect(readdirSync(directory).sort()).toEqual(committed);
      for (const file of committed) {
        expect(readFileSync(join(directory, file)), `${file}: run \`npm run charts\` and commit`).toEqual(
          readFileSync(join('docs/machines', file)),
        );
      }
    }),
  );

  it(
    'prints its help with --help and exits 0',
    scoped(async () => {
      const { code, stdout } = await run(['chart', '--help']);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^Usage: ws-supervisor chart/);
      expect(stdout).toContain('--machine <name>');
      // Every machine it draws is named (lease and watchdog were left out).
      const machineOption = stdout.slice(
        stdout.indexOf('--machine <name>'),
        stdout.indexOf('--format <format>'),
      );
      for (const name of Object.keys(charts)) expect(machineOption).toContain(name);
      // And every machine's XState id that differs from its chart name, with the chart it names.
      for (const [name, machine] of Object.entries(charts))
        if (machine.id !== name)
          expect(machineOption).toMatch(new RegExp(`${machine.id}\\s+for\\s+${name}\\b`));
    }),
  );

  // The mutation check (WSSUP_MUTANTS_OF) and each page's heading name a machine by its XState id;
  // users typed those here. Each id draws its machine's chart, in files named by the chart name.
  // (An id equal to its chart name is a name already: readme-claims-charts.test.ts runs them all.)
  it.for([
    ['userSupervisor', 'supervisor'],
    ['storeWatchdog', 'watchdog'],
    ['dashboardFeed', 'dashboard'],
  ] as const)(
    '--machine %s is the %s chart',
    scopedCase(async ([id, name]) => {
      expect(charts[name].id).toBe(id);
      const directory = temporaryDirectory();
      const { code } = await run([
        'chart',
        '--machine',
        id,
        '--format',
        'markdown',
        '--format',
        'json',
        '--out',
        directory,
      ]);
      expect(code).toBe(0);
      expect(readdirSync(directory).sort()).toEqual([`${name}.json`, `${name}.md`]);
      expect(readFileSync(join(directory, `${name}.md`), 'utf8')).toBe(
        toMarkdown(name, machineGraph(charts[name])),
      );
      expect(JSON.parse(readFileSync(join(directory, `${name}.json`), 'utf8'))).toEqual(
        machineGraph(charts[name]),
      );
    }),
  );

  it(
    'refuses a flag it does not know on stderr with exit code 2, as the program itself',
    scoped(async () => {
      const { code, stdout, output } = await run(['chart', '--colour']);
      expect(code).toBe(2);
      expect(output).toMatch(
        /^error: Unknown option '--colour'[^\n]*\n\(ws-supervisor chart --help lists the options\)\n$/,
      );
      expect(stdout).toBe('');
    }),
  );
});

// Read by chartCommand() in this process, one after another (console is replaced meanwhile).
describe('ws-supervisor chart, its refusals', () => {
  it.for([
    [
      ['--machine', 'shard'],
      /--machine must be one of connection, supervisor, hub, lease, watchdog, refusal, client, dashboard, all \(or a machine's id: userSupervisor, storeWatchdog, dashboardFeed\), got "shard"$/m,
    ],
    [
      ['--machine', 'nope'],
      /--machine must be one of connection, supervisor, hub, lease, watchdog, refusal, client, dashboard, all \(or a machine's id: userSupervisor, storeWatchdog, dashboardFeed\), got "nope"/,
    ],
    // A typo names its fix, as an unknown command does; an alias is a name to guess too.
    [['--machine', 'conection'], /got "conection", did you mean "connection"\?/],
    [['--machine', 'userSupervsior'], /got "userSupervsior", did you mean "userSupervisor"\?/],
    [['--format', 'png'], /--format must be one of mermaid, dot, json, svg, markdown, got "png"/],
    [['--colour'], /Unknown option '--colour'/],
    [['--machine'], /--machine/],
    [['extra'], /unexpected argument "extra"/],
    [['--machine', 'all'], /give --out <directory>/],
    [['--format', 'svg', '--format', 'dot'], /give --out <directory>/],
    // The last one was taken, the other silently dropped.
    [['--machine', 'hub', '--machine', 'lease'], /--machine given twice: once, or --machine all/],
    [['--out', 'a.mmd', '--out', 'b.mmd'], /--out given twice/],
  ] as const)(
    'refuses %j on stderr with exit code 2',
    async ([args, message]: readonly [readonly string[], RegExp]) => {
      const { code, stdout, output } = await chartInProcess([...args]);
      expect(code).toBe(2);
      expect(output).toMatch(message);
      expect(stdout).toBe('');
    },
  );
});

describe('ws-supervisor chart, writing and the other commands', { concurrent: true, timeout: 60_000 }, () => {
  it.for([
    [
      'a file in a folder that is a file',
      (dir: string) => {
        writeFileSync(join(dir, 'file'), '');
        return ['--out', join(dir, 'file', 'x.mmd')];
      },
    ],
    [
      'a directory where a file is',
      (dir: string) => {
        writeFileSync(join(dir, 'file'), '');
        return ['--machine', 'all', '--out', join(dir, 'file')];
      },
    ],
  ] as const)(
    'cannot write %s: says which path and why, exit 1, no stack trace',
    scopedCase(async ([, args]: readonly [string, (dir: string) => string[]]) => {
      const { code, output } = await run(['chart', ...args(temporaryDirectory())]);
      expect(code).toBe(1);
      expect(output).toMatch(/^error: cannot write: .*(ENOENT|EEXIST|ENOTDIR)/m);
      expect(output).not.toMatch(/^\s+at /m);
    }),
  );

  it(
    'one chart to an existing directory named without its slash: EISDIR, and how to write inside it (review)',
    scoped(async () => {
      const dir = temporaryDirectory();
      const { code, output } = await run(['chart', '--machine', 'hub', '--out', dir]);
      expect(code).toBe(1);
      expect(output).toMatch(
        /^error: cannot write: EISDIR.*\(a directory: end --out with \/ to write the chart inside it\)$/m,
      );
      expect(output).not.toMatch(/^\s+at /m);
    }),
  );

  it(
    'with --out ending in / the EISDIR of a file that is a directory there gets no slash hint (review)',
    scoped(async () => {
      const dir = temporaryDirectory();
      mkdirSync(join(dir, 'hub.dot'));
      const { code, output } = await run([
        'chart',
        '--machine',
        'hub',
        '--format',
        'dot',
        '--out',
        `${dir}/`,
      ]);
      expect(code).toBe(1);
      expect(output).toMatch(/^error: cannot write: EISDIR/m);
      expect(output).not.toMatch(/end --out with \//);
    }),
  );

  it(
    'without a command: an error line and the usage on stderr, nothing on stdout, exit 2',
    scoped(async () => {
      const { code, stdout, output } = await run([]);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(output).toMatch(/^error: no command given: serve or chart\n\nUsage: ws-supervisor <command>/);
    }),
  );

  it(
    'a reader that closed the pipe first (`chart | head -c 0`): exit 0, no stack trace',
    scoped(async () => {
      const program = runProgram(cli, ['chart', '--machine', 'dashboard']);
      // Closed before the program has even started: its one write meets a closed pipe (EPIPE).
      program.child.stdout.destroy();
      const code = await program.exited;
      expect(program.output()).not.toMatch(/EPIPE|\n\s+at /);
      expect(code).toBe(0);
    }),
  );

  it(
    'keeps the other commands: --version, and the top-level help names chart',
    scoped(async () => {
      const version = await run(['--version']);
      expect(version.code).toBe(0);
      expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
      const help = await run(['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/serve \[options\]/);
      expect(help.stdout).toMatch(/chart \[options\]/);
    }),
  );
});
