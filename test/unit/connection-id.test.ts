import { validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import { createConnectionIds } from '../../src/connection-id.js';

/** The 48-bit millisecond timestamp at the front of a v7 id. */
const msecsOf = (id: string) => Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);

describe('connection ids', () => {
  it('are valid UUID v7, unique across several refills of the random pool', () => {
    const next = createConnectionIds();
    const ids = Array.from({ length: 2_000 }, next);
    expect(ids.every((id) => validate(id) && version(id) === 7)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('sort in the order they were minted, within one millisecond and across them', () => {
    let now = 1_700_000_000_000;
    const next = createConnectionIds(() => now);
    const ids: string[] = [];
    for (let ms = 0; ms < 5; ms++) {
      for (let i = 0; i < 300; i++) ids.push(next());
      now += 1;
    }
    expect([...ids].sort()).toEqual(ids);
    expect(msecsOf(ids[0] as string)).toBe(1_700_000_000_000);
    expect(msecsOf(ids.at(-1) as string)).toBe(1_700_000_000_004);
  });

  it('stay ordered when the clock steps back', () => {
    let now = 1_700_000_000_000;
    const next = createConnectionIds(() => now);
    const first = next();
    now -= 1_000;
    const second = next();
    expect(second > first).toBe(true);
    expect(msecsOf(second)).toBe(1_700_000_000_000);
  });
});
