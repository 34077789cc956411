/**
 * Setup file of a mutation run (only loaded when WSSUP_MUTANT names a
 * transition): the runtime's connection machine loses that transition. Tests
 * that walk the specification load the committed machine with
 * `vi.importActual` (test/model/spec.ts), so only the system under test changes.
 */
import { vi } from 'vitest';

vi.mock('../../machines/connection.machine.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../machines/connection.machine.js')>();
  const { withoutTransition } = await import('./remove-transition.js');
  const key = process.env.WSSUP_MUTANT as string;
  return { ...actual, connectionMachine: withoutTransition(actual.connectionMachine, key) };
});
