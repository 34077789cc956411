/**
 * Setup file of a mutation run (only loaded when WSSUP_MUTANT names a
 * mutant): the runtime's connection machine loses that transition, or gets
 * one of the semantic mutants of semantic-mutants.ts. Tests that walk the
 * specification load the committed machine with `vi.importActual`
 * (test/model/spec.ts), so only the system under test changes.
 */
import { vi } from 'vitest';

vi.mock('../../machines/connection.machine.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../machines/connection.machine.js')>();
  const { withoutTransition } = await import('./remove-transition.js');
  const { semanticMutants } = await import('./semantic-mutants.js');
  const key = process.env.WSSUP_MUTANT as string;
  const semantic = semanticMutants[key];
  const connectionMachine =
    semantic === undefined
      ? withoutTransition(actual.connectionMachine, key)
      : semantic(actual.connectionMachine);
  return { ...actual, connectionMachine };
});
