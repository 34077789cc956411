/** The mutation check is only as good as its mutants: each lacks exactly the transition it names. */
import { expect, it } from 'vitest';
import { connectionMachine } from '../../machines/connection.machine.js';
import { allTransitions } from '../model/transitions.js';
import { withoutTransition } from './remove-transition.js';

it.each(allTransitions(connectionMachine).map((t) => t.key))(
  'the mutant without %s lacks exactly it',
  (key) => {
    const keys = allTransitions(connectionMachine).map((t) => t.key);
    const mutant = allTransitions(withoutTransition(connectionMachine, key)).map((t) => t.key);
    expect(mutant).toEqual(keys.filter((k) => k !== key));
  },
);
