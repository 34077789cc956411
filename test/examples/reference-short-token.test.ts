/**
 * An attacker's-view trial: `WSSUP_DASHBOARD_TOKEN=a ws-supervisor serve --host 0.0.0.0`
 * started without a word, the users' list behind a one-letter secret. tokenAuthorizer now
 * refuses a token under 16 characters; the command says so in one line, exit 2, and never
 * prints the token.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { main } from '../../examples/reference-server/main.js';

describe('the reference server with a short dashboard token', () => {
  it.each<[string[], Record<string, string>]>([
    [['--port', '0', '--host', '127.0.0.1'], { WSSUP_DASHBOARD_TOKEN: 'a' }],
    [['--port', '0', '--dashboard-token', 'Sh0rt-s3cret'], {}],
  ])('refuses it before it listens: %j %j', async (argv, env) => {
    const errors: string[] = [];
    const spy = vi
      .spyOn(console, 'error')
      .mockImplementation((line: unknown) => void errors.push(String(line)));
    onTestFinished(() => spy.mockRestore());
    expect(await main(argv, env)).toBe(2);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /^error: WSSUP_DASHBOARD_TOKEN \(--dashboard-token\): the token must be at least 16 characters, got \d+ .*openssl rand -hex 16/,
    );
    expect(errors[0]).not.toMatch(/Sh0rt|s3cret/);
  });
});
