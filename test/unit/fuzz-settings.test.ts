/** The property tests' fuzzing settings (test/helpers/fuzz.ts), read from the environment. */
import { expect, it } from 'vitest';
import { fuzzSettings } from '../helpers/fuzz.js';

it('runs each property as its file says, on a fresh seed, unless told otherwise', () => {
  const a = fuzzSettings({});
  expect(a).toMatchObject({ multiplier: 1, seedGiven: false, path: undefined });
  expect(Number.isInteger(a.seed)).toBe(true);
});

it('reads the multiplier, the seed and the path of a counterexample', () => {
  expect(fuzzSettings({ WSSUP_FUZZ_RUNS: '30', WSSUP_FUZZ_SEED: '-42', WSSUP_FUZZ_PATH: '3:1:0' })).toEqual({
    multiplier: 30,
    seed: -42,
    seedGiven: true,
    path: '3:1:0',
  });
  // The names test/property/ read before.
  expect(fuzzSettings({ FC_SEED: '7', FC_PATH: '1' })).toMatchObject({ seed: 7, path: '1' });
});

it('refuses settings it cannot use, rather than run something else', () => {
  expect(() => fuzzSettings({ WSSUP_FUZZ_RUNS: 'lots' })).toThrow(/WSSUP_FUZZ_RUNS/);
  expect(() => fuzzSettings({ WSSUP_FUZZ_RUNS: '0' })).toThrow(/WSSUP_FUZZ_RUNS/);
  expect(() => fuzzSettings({ WSSUP_FUZZ_SEED: '1.5' })).toThrow(/WSSUP_FUZZ_SEED/);
  expect(() => fuzzSettings({ WSSUP_FUZZ_PATH: '3:1' })).toThrow(/WSSUP_FUZZ_SEED/);
});
