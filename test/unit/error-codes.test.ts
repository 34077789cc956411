/** Codes are API: the README's table and the code must list the same ones. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function documentedCodes(): string[] {
  const section = readme.split(/^## Error codes$/m)[1]?.split(/^## /m)[0] ?? '';
  return [...section.matchAll(/^\|\s*`(WSSUP_[A-Z_]+)`\s*\|/gm)].map((match) => match[1] as string);
}

describe('error codes', () => {
  it('the README documents exactly the codes in src/errors.ts', () => {
    expect(documentedCodes().sort()).toEqual(Object.keys(ErrorCodes).sort());
  });

  it('every code is namespaced and described', () => {
    for (const [code, meaning] of Object.entries(ErrorCodes)) {
      expect(code).toMatch(/^WSSUP_[A-Z_]+$/);
      expect(meaning.length).toBeGreaterThan(20);
    }
  });
});
