/**
 * Tests that need something npm cannot install (issue 13, item 8): without
 * it they are skipped with a loud message, and with WSSUP_REQUIRE_EXTERNAL=1
 * (CI) they fail. The browser is found through CHROMIUM_PATH, then the usual
 * places on Linux and macOS.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { chromiumCandidates, findChromium } from '../helpers/chromium.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('findChromium', () => {
  const only =
    (...present: string[]) =>
    (path: string) =>
      present.includes(path);

  it('takes CHROMIUM_PATH when it is set, and only that', () => {
    const env = { CHROMIUM_PATH: '/opt/chrome/chrome' };
    expect(findChromium(env, only('/opt/chrome/chrome', '/usr/bin/chromium')).path).toBe(
      '/opt/chrome/chrome',
    );
    const missing = findChromium(env, only('/usr/bin/chromium'));
    expect(missing).toEqual({ path: undefined, looked: ['CHROMIUM_PATH=/opt/chrome/chrome'] });
  });

  it('otherwise takes the first usual location that exists, on Linux or macOS', () => {
    expect(findChromium({}, only('/usr/bin/chromium-browser', '/usr/bin/google-chrome')).path).toBe(
      '/usr/bin/chromium-browser',
    );
    const mac = '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome';
    expect(findChromium({ CHROMIUM_PATH: '' }, only(mac)).path).toBe(mac);
  });

  it('finds none when none exists, and says where it looked', () => {
    const search = findChromium({}, () => false);
    expect(search.path).toBeUndefined();
    expect(search.looked).toEqual(['CHROMIUM_PATH (not set)', ...chromiumCandidates]);
  });
});

interface Run {
  code: number;
  output: string;
  tests: Record<string, string>;
}

/** Runs the fixtures in a vitest of their own; returns its exit code, output and each test's status. */
function runFixtures(env: NodeJS.ProcessEnv): Promise<Run> {
  const out = mkdtempSync(join(tmpdir(), 'wssup-requirements-'));
  onTestFinished(() => rmSync(out, { recursive: true, force: true }));
  const report = join(out, 'report.json');
  const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
  const args = [
    vitest,
    'run',
    '--config',
    'test/helpers/fixtures/vitest.config.ts',
    '--outputFile.json',
    report,
  ];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { cwd: root, env: { ...env, NO_COLOR: '1', FORCE_COLOR: '0' } },
      (error, stdout, stderr) => {
        const result = JSON.parse(readFileSync(report, 'utf8')) as {
          testResults: { assertionResults: { fullName: string; status: string }[] }[];
        };
        const tests = Object.fromEntries(
          result.testResults.flatMap((file) =>
            file.assertionResults.map((test) => [test.fullName, test.status]),
          ),
        );
        resolve({ code: error === null ? 0 : Number(error.code), output: stdout + stderr, tests });
      },
    );
  });
}

describe('requireExternal', () => {
  const { WSSUP_REQUIRE_EXTERNAL: _ignored, CI: _ci, ...env } = process.env;

  it('skips a block whose requirement is missing, and says so loudly', async () => {
    const run = await runFixtures(env);
    expect(run.code, run.output).toBe(0);
    expect(run.tests).toEqual({
      'needs a missing tool would use the tool': 'skipped',
      'needs a tool that is there runs': 'passed',
    });
    expect(run.output).toContain('!!! SKIPPING tests that need wssup-imaginary-tool');
    expect(run.output).toContain('Install it from nowhere.');
  }, 60_000);

  it('fails instead with WSSUP_REQUIRE_EXTERNAL=1 (as CI runs)', async () => {
    const run = await runFixtures({ ...env, WSSUP_REQUIRE_EXTERNAL: '1' });
    expect(run.code, run.output).toBe(1);
    expect(run.tests).toEqual({
      'requires wssup-imaginary-tool': 'failed',
      'needs a missing tool would use the tool': 'skipped',
      'needs a tool that is there runs': 'passed',
    });
    expect(run.output).toContain('!!! FAILING tests that need wssup-imaginary-tool');
  }, 60_000);
});
