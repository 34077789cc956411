/**
 * Tests that need something npm cannot install (a browser, redis-server,
 * libfaketime). Without it, such a block is skipped with a loud message
 * naming what is missing and how to get it, so `npm test` runs anywhere, as
 * any user. CI sets WSSUP_REQUIRE_EXTERNAL=1: there a missing requirement is a
 * failing test instead, so a broken CI image cannot pass by skipping.
 */
import { it } from 'vitest';

/** Whether missing requirements fail (CI) instead of skipping (everyone else). */
export const externalsRequired = (env: NodeJS.ProcessEnv = process.env) => env.WSSUP_REQUIRE_EXTERNAL === '1';

/**
 * Declares that the tests of a describe block need `name`. Returns `found`;
 * use it as the block's condition: `describe.runIf(requireExternal(...))(...)`.
 * When `found` is false it prints a banner on stderr, and with
 * WSSUP_REQUIRE_EXTERNAL=1 it also registers a failing test in place of the
 * block. Call it while the file is collected (at top level), not in a test.
 *
 * @param name what is missing, e.g. 'Chromium' or 'redis-server'
 * @param hint how to get it, and anything else a human needs to know
 */
export function requireExternal(name: string, found: boolean, hint: string): boolean {
  if (found) return true;
  const required = externalsRequired();
  const banner = [
    '',
    `!!! ${required ? 'FAILING' : 'SKIPPING'} tests that need ${name}: ${name} was not found.`,
    ...hint.split('\n').map((line) => `!!!   ${line}`),
    required
      ? '!!!   WSSUP_REQUIRE_EXTERNAL=1 is set (CI): a missing requirement fails the run.'
      : '!!!   Set WSSUP_REQUIRE_EXTERNAL=1 to make this a failure instead (CI does).',
    '',
  ].join('\n');
  console.warn(banner);
  if (required) {
    it(`requires ${name}`, () => {
      throw new Error(`${name} was not found.\n${hint}`);
    });
  }
  return false;
}
