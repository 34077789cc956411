/**
 * `ws-supervisor chart` from a charts user trial: where `--out` writes (a trailing slash, missing
 * folders, `-`), nothing written when an SVG cannot be drawn (no elkjs), and what the Markdown
 * pages it writes say. The built program, run as its own process, as a user runs it.
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { charts, renderChart } from '../../src/chart/index.js';
import { runCommand } from '../helpers/process.js';
import { scoped } from '../helpers/test-scope.js';
import { chartNames, run, temporaryDirectory } from './cli-fixture.js';

/**
 * The built program in a package of its own whose node_modules holds every dependency of ours
 * but elkjs (links to them), as an app that never installed the optional peer has it.
 */
function programWithoutElkjs(): string {
  const home = temporaryDirectory();
  cpSync('dist', join(home, 'dist'), { recursive: true });
  cpSync('package.json', join(home, 'package.json'));
  const modules = join(home, 'node_modules');
  mkdirSync(modules);
  for (const name of readdirSync('node_modules')) {
    if (name === 'elkjs' || name === '.bin') continue;
    symlinkSync(join(process.cwd(), 'node_modules', name), join(modules, name));
  }
  return join(home, 'dist', 'src', 'cli.js');
}

describe('ws-supervisor chart --out, and what it writes', { concurrent: true, timeout: 60_000 }, () => {
  it(
    'without elkjs, an SVG among several outputs: exit 1 with what to install, and no file written',
    scoped(async () => {
      const cli = programWithoutElkjs();
      const out = join(temporaryDirectory(), 'mix2');
      const args = ['chart', '--machine', 'all', '--format', 'mermaid', '--format', 'svg', '--out', out];
      const program = runCommand(process.execPath, [cli, ...args]);
      expect(await program.exited).toBe(1);
      expect(program.output()).toMatch(
        /^error: SVG charts: the optional peer dependency "elkjs" is not installed; run npm install elkjs\.$/m,
      );
      expect(existsSync(out)).toBe(false);
      // The other formats still work there.
      const mermaid = runCommand(process.execPath, [cli, 'chart', '--machine', 'hub', '--out', `${out}/`]);
      expect(await mermaid.exited).toBe(0);
      expect(readdirSync(out)).toEqual(['hub.mmd']);
    }),
  );

  it(
    '--out with a trailing slash is a directory: created, with <machine>.<ext> inside',
    scoped(async () => {
      const directory = join(temporaryDirectory(), 'hubdir');
      const { code, output } = await run(['chart', '--machine', 'hub', '--out', `${directory}/`]);
      expect(code, output).toBe(0);
      expect(readdirSync(directory)).toEqual(['hub.mmd']);
      expect(readFileSync(join(directory, 'hub.mmd'), 'utf8')).toBe(
        await renderChart(charts.hub, { format: 'mermaid' }),
      );
    }),
  );

  it(
    '--out a file in folders that do not exist yet: creates them, as the directory mode does',
    scoped(async () => {
      const file = join(temporaryDirectory(), 'nested', 'dir', 'x.dot');
      const { code, output } = await run(['chart', '--machine', 'lease', '--format', 'dot', '--out', file]);
      expect(code, output).toBe(0);
      expect(output).toContain(`wrote ${file}`);
      expect(readFileSync(file, 'utf8')).toBe(await renderChart(charts.lease, { format: 'dot' }));
    }),
  );

  it(
    '--out - is stdout, and creates nothing',
    scoped(async () => {
      const program = runCommand(process.execPath, [
        'dist/src/cli.js',
        'chart',
        '--machine',
        'refusal',
        '--format',
        'dot',
        '--out',
        '-',
      ]);
      let stdout = '';
      program.child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      expect(await program.exited).toBe(0);
      expect(stdout).toBe(await renderChart(charts.refusal, { format: 'dot' }));
      expect(existsSync('-')).toBe(false); // the program's cwd is the package root
    }),
  );

  it(
    '--out - with several outputs: a usage error (exit 2), nothing on stdout',
    scoped(async () => {
      const { code, stdout, output } = await run(['chart', '--machine', 'all', '--out', '-']);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(output).toMatch(/^error: .*give --out <directory>, not -$/m);
      expect(existsSync('-')).toBe(false);
    }),
  );

  it(
    'a Markdown page links its picture only when the SVG is written beside it, and names the command, not our npm script',
    scoped(async () => {
      const root = temporaryDirectory();
      const both = await run([
        'chart',
        '--machine',
        'hub',
        '--format',
        'markdown',
        '--format',
        'svg',
        '--out',
        join(root, 'both'),
      ]);
      expect(both.code, both.output).toBe(0);
      const withPicture = readFileSync(join(root, 'both', 'hub.md'), 'utf8');
      expect(withPicture).toContain('Picture: [hub.svg](hub.svg)');
      expect(withPicture).toContain('Generated from the machine definition by `ws-supervisor chart`');
      expect(withPicture).not.toContain('npm run charts');

      const alone = await run([
        'chart',
        '--machine',
        'hub',
        '--format',
        'markdown',
        '--out',
        join(root, 'alone/'),
      ]);
      expect(alone.code, alone.output).toBe(0);
      const withoutPicture = readFileSync(join(root, 'alone', 'hub.md'), 'utf8');
      expect(withoutPicture).not.toContain('](hub.svg)');
      expect(withoutPicture).toContain('`ws-supervisor chart --machine hub --format svg` draws it');
      expect(withoutPicture).not.toContain('npm run charts');
    }),
  );

  it(
    'every page of ours describes its machine, none with the generic line',
    scoped(async () => {
      const directory = temporaryDirectory();
      const { code, output } = await run([
        'chart',
        '--machine',
        'all',
        '--format',
        'markdown',
        '--out',
        directory,
      ]);
      expect(code, output).toBe(0);
      for (const name of chartNames) {
        const page = readFileSync(join(directory, `${name}.md`), 'utf8');
        expect(page, name).not.toMatch(/State chart of the `/);
        // The intro: the paragraph after the generated-by comment, a real one.
        const intro = page.split('\n\n')[2] ?? '';
        expect(intro.length, `${name}: ${intro}`).toBeGreaterThan(200);
      }
    }),
  );

  it(
    '--check <dir> writes nothing: exit 0 when the files match, else 1 with each that differs or is missing',
    scoped(async () => {
      const directory = join(temporaryDirectory(), 'charts');
      const args = ['chart', '--machine', 'all', '--format', 'markdown', '--format', 'mermaid'];
      expect((await run([...args, '--out', `${directory}/`])).code).toBe(0);
      const same = await run([...args, '--check', directory]);
      expect([same.code, same.stdout], same.output).toEqual([0, '']);
      expect(same.output).toContain(`16 chart file(s) in ${directory} are up to date`);
      // An app that bumped the package: one page changed, one picture gone.
      writeFileSync(join(directory, 'hub.md'), 'an older page\n');
      rmSync(join(directory, 'lease.mmd'));
      const before = readdirSync(directory).sort();
      const stale = await run([...args, '--check', directory]);
      expect(stale.code, stale.output).toBe(1);
      expect(stale.stdout).toBe(
        `differs: ${join(directory, 'hub.md')}\nmissing: ${join(directory, 'lease.mmd')}\n`,
      );
      expect(stale.output).toContain('2 of 16 chart file(s)');
      expect(readdirSync(directory).sort()).toEqual(before);
      expect(readFileSync(join(directory, 'hub.md'), 'utf8')).toBe('an older page\n');
      // It compares; --out writes: not both.
      const both = await run([...args, '--check', directory, '--out', `${directory}/`]);
      expect(both.code).toBe(2);
      expect(both.output).toContain('--check compares, --out writes: give one of them');
    }),
  );
});
