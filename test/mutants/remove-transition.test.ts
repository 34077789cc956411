/** The mutation check is only as good as its mutants: each lacks exactly the transition it names. */
import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../../machines/connection.machine.js';
import { leaseMachine } from '../../machines/lease.machine.js';
import { userSupervisorMachine } from '../../machines/user-supervisor.machine.js';
import { allTransitions } from '../model/transitions.js';
import { withoutTransition } from './remove-transition.js';

describe.each([
  ['connection', connectionMachine],
  ['user supervisor', userSupervisorMachine],
  ['lease', leaseMachine],
] as const)('%s', (_name, machine) => {
  it.each(allTransitions(machine).map((t) => t.key))('the mutant without %s lacks exactly it', (key) => {
    const keys = allTransitions(machine).map((t) => t.key);
    const mutant = allTransitions(withoutTransition(machine, key)).map((t) => t.key);
    expect(mutant).toEqual(keys.filter((k) => k !== key));
  });
});
