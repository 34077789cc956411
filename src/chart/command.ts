/**
 * `ws-supervisor chart`: writes the state charts of our machines to stdout or
 * files. `npm run charts` uses it to regenerate docs/machines/.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { guessName, sayGuess } from '../closest-name.js';
import { MissingPeerError } from '../errors.js';
import { type ChartName, charts, machineGraph, renderChart } from './index.js';
import { toMarkdown } from './markdown.js';

const chartUsage = `Usage: ws-supervisor chart [options]

Draws the state chart of a ws-supervisor machine from its definition.

Options:
  --machine <name>   connection (default), supervisor, hub, lease, watchdog, refusal,
                     client, dashboard, or all. A machine's XState id, the name
                     the mutation check uses, works too: userSupervisor for
                     supervisor, storeWatchdog for watchdog, dashboardFeed for
                     dashboard (files are named by the chart name)
  --format <format>  mermaid (default), dot, json, svg, or markdown (a page with
                     the Mermaid block); repeat it to write several formats
  --out <path>       write to this file instead of stdout (missing folders are
                     created). With --machine all, several formats, or a
                     trailing / it names a directory, which gets one
                     <machine>.<ext> per machine and format. --out - is stdout
  --check <dir>      write nothing: compare what --out <dir>/ would write with the
                     files there, list each that differs or is missing, and exit 1
                     if any does (0 when all are the same)
  -h, --help         show this help

Examples:
  ws-supervisor chart --machine connection --format svg --out connection.svg
  ws-supervisor chart --machine all --format markdown --format svg --out docs/machines
  ws-supervisor chart --machine all --format markdown --check docs/machines
`;

const FORMATS = ['mermaid', 'dot', 'json', 'svg', 'markdown'] as const;
type CliFormat = (typeof FORMATS)[number];
const EXTENSIONS: Record<CliFormat, string> = {
  mermaid: 'mmd',
  dot: 'dot',
  json: 'json',
  svg: 'svg',
  markdown: 'md',
};
const NAMES = Object.keys(charts) as ChartName[];
// A machine's XState id also names its chart: the mutation check's WSSUP_MUTANTS_OF and the
// pages' headings use it (`userSupervisor`), so users tried it here. Derived, so a new machine
// whose id differs from its chart name gets its alias without a table to keep.
const ALIASES: ReadonlyMap<string, ChartName> = new Map(
  NAMES.filter((name) => charts[name].id !== name).map((name) => [charts[name].id, name]),
);

class UsageError extends Error {}

/**
 * Runs the command; returns the exit code (2 for bad usage, 1 for a missing
 * optional peer such as elkjs or an --out it cannot write, each with a
 * message on stderr).
 */
export async function chartCommand(argv: string[]): Promise<number> {
  let request: ReturnType<typeof readArgs>;
  try {
    request = readArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) {
      throw error;
    }
    console.error(`error: ${(error as Error).message}\n(ws-supervisor chart --help lists the options)`);
    return 2;
  }
  if (request === 'help') {
    console.log(chartUsage);
    return 0;
  }
  try {
    return await write(request);
  } catch (error) {
    // SVG without elkjs installed: say which package to install, without a stack.
    if (error instanceof MissingPeerError) {
      console.error(`error: ${error.message}`);
      return 1;
    }
    // --out in a missing directory, over a file, not writable: Node's message names the path.
    if (typeof (error as NodeJS.ErrnoException).syscall === 'string') {
      // One chart to an existing directory named without its slash: say how to write inside it.
      const { code, path } = error as NodeJS.ErrnoException;
      const hint =
        code === 'EISDIR' && request.out !== undefined && path === request.out
          ? ' (a directory: end --out with / to write the chart inside it)'
          : '';
      console.error(`error: cannot write: ${(error as Error).message}${hint}`);
      return 1;
    }
    throw error;
  }
}

/**
 * `ws-supervisor chart | head` may close the pipe before the chart is written: the reader has
 * what it wanted, so the EPIPE that Node reports as the stream's 'error' event (uncaught, a
 * stack trace and exit 1, without a listener) ends the command quietly, as SIGPIPE ends a Unix
 * tool. Any other error is thrown, as before.
 */
function ignoreClosedPipe(error: NodeJS.ErrnoException): void {
  if (error.code !== 'EPIPE') throw error;
}

async function write({ machines, formats, out, check }: Exclude<ReturnType<typeof readArgs>, 'help'>) {
  // Everything is rendered before anything is written: an SVG without elkjs (or any other
  // failure to render) leaves no half-written directory behind.
  const outputs: { name: ChartName; format: CliFormat; text: string }[] = [];
  for (const name of machines) {
    for (const format of formats) {
      outputs.push({ name, format, text: await render(name, format, formats.includes('svg')) });
    }
  }
  if (check !== undefined) return compare(outputs, check);
  if (out === undefined || out === '-') {
    if (!process.stdout.listeners('error').includes(ignoreClosedPipe))
      process.stdout.on('error', ignoreClosedPipe);
    process.stdout.write((outputs[0] as (typeof outputs)[number]).text);
    return 0;
  }
  // A trailing slash names a directory, as --machine all's --out does.
  const directory = outputs.length > 1 || out.endsWith('/') || out.endsWith(sep);
  if (!directory) {
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, (outputs[0] as (typeof outputs)[number]).text);
    console.error(`wrote ${out}`);
    return 0;
  }
  await mkdir(out, { recursive: true });
  for (const { name, format, text } of outputs) {
    const file = join(out, `${name}.${EXTENSIONS[format]}`);
    await writeFile(file, text);
    console.error(`wrote ${file}`);
  }
  return 0;
}

/**
 * `--check <dir>`: the files `--out <dir>/` would write, compared with those there. Each that
 * differs or is missing is listed on stdout (`differs: <path>`, `missing: <path>`), for a CI
 * step or an app's charts of the version it depends on; exit 1 when any is, 0 when none is.
 */
async function compare(outputs: { name: ChartName; format: CliFormat; text: string }[], directory: string) {
  const stale: string[] = [];
  for (const { name, format, text } of outputs) {
    const file = join(directory, `${name}.${EXTENSIONS[format]}`);
    let current: string | undefined;
    try {
      current = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (current === undefined) stale.push(`missing: ${file}`);
    else if (current !== text) stale.push(`differs: ${file}`);
  }
  if (stale.length === 0) {
    console.error(`${outputs.length} chart file(s) in ${directory} are up to date`);
    return 0;
  }
  process.stdout.write(`${stale.join('\n')}\n`);
  console.error(
    `${stale.length} of ${outputs.length} chart file(s) in ${directory} are not what --out would write`,
  );
  return 1;
}

function readArgs(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      // Multiple, to refuse a repeat: parseArgs keeps the last one and drops the others silently.
      machine: { type: 'string', multiple: true },
      format: { type: 'string', multiple: true },
      out: { type: 'string', multiple: true },
      check: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) return 'help' as const;
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  if ((values.machine?.length ?? 0) > 1)
    throw new UsageError('--machine given twice: once, or --machine all');
  if ((values.out?.length ?? 0) > 1) throw new UsageError('--out given twice');
  if ((values.check?.length ?? 0) > 1) throw new UsageError('--check given twice');
  const check = values.check?.[0];
  if (check === '') throw new UsageError('--check needs a directory');
  if (check !== undefined && values.out !== undefined)
    throw new UsageError('--check compares, --out writes: give one of them');
  const given = values.machine?.[0] ?? 'connection';
  const machine = ALIASES.get(given) ?? given;
  if (machine !== 'all' && !(NAMES as string[]).includes(machine)) {
    // A typo (`conection`) names its fix, as an unknown command or option does.
    const guess = guessName(given, [...NAMES, 'all', ...ALIASES.keys()]);
    throw new UsageError(
      `--machine must be one of ${[...NAMES, 'all'].join(', ')} (or a machine's id: ${[...ALIASES.keys()].join(', ')}), got ${JSON.stringify(given)}${guess === undefined ? '' : `, did you mean ${sayGuess(guess.names)}?`}`,
    );
  }
  const formats = [...new Set(values.format ?? ['mermaid'])];
  for (const format of formats) {
    if (!(FORMATS as readonly string[]).includes(format)) {
      throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
    }
  }
  const machines = machine === 'all' ? NAMES : [machine as ChartName];
  const out = values.out?.[0];
  if (out === '') throw new UsageError('--out needs a path');
  if (
    check === undefined &&
    (out === undefined || out === '-') &&
    (machines.length > 1 || formats.length > 1)
  ) {
    throw new UsageError(
      `--machine all and several --format write one file each: give --out <directory>${out === '-' ? ', not -' : ''}`,
    );
  }
  return { machines, formats: formats as CliFormat[], out, check };
}

/** `withSvg`: the SVG is written next to the Markdown page, which then links it. */
function render(name: ChartName, format: CliFormat, withSvg: boolean): Promise<string> {
  if (format === 'markdown')
    return Promise.resolve(toMarkdown(name, machineGraph(charts[name]), { picture: withSvg }));
  return renderChart(charts[name], { format });
}
