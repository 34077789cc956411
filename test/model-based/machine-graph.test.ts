/**
 * Static checks of the machine graphs: the definitions themselves, no actor
 * started. Each failure names the state (or the set of states active at
 * once, joined by " + ") at fault.
 *
 * - From every reachable state the final state can be reached (`disposed`
 *   for a connection, `stopped` for a supervisor and the hub).
 * - Every non-final state handles the socket closing and erroring (for a
 *   supervisor: a child ending and a child failing, except where it holds no
 *   child), directly or through an ancestor.
 * - No reachable state waits without a delayed transition out, except the
 *   ones listed below, with the reason each may wait.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { configurationsWithoutDelay, exploreMachine, statesNotHandling } from '../model/graph-checks.js';
import { loadSpecMachines } from '../model/spec.js';
import { allStateNodes } from '../model/transitions.js';

const { connectionMachine, userSupervisorMachine, hubMachine, clientMachine } = await loadSpecMachines();

const machines = [
  {
    machine: connectionMachine,
    mustHandle: ['SOCKET_CLOSED', 'SOCKET_ERRORED'],
    holdsNothing: [] as string[],
    // None: `active` would be allowed to wait, but its heartbeat always has a delay pending.
    mayWait: {} as Record<string, string>,
  },
  {
    machine: userSupervisorMachine,
    mustHandle: ['xstate.done.actor.*', 'xstate.error.actor.*'],
    // No child can end or fail where there is none.
    holdsNothing: ['userSupervisor.lingering'],
    mayWait: {
      'userSupervisor.supervising': 'it ends with its last child, and every wait of a child is bounded',
      'userSupervisor.shuttingDown':
        "the hub's shutdown deadline bounds it: at the deadline it sends TERMINATE",
    },
  },
  {
    machine: hubMachine,
    mustHandle: [] as string[],
    holdsNothing: [] as string[],
    mayWait: { 'hub.running': 'the hub runs until shutdown() is called' },
  },
  {
    machine: clientMachine,
    // (The app's CLOSE is handled at the root: test/client/client.machine.test.ts checks it.)
    mustHandle: ['SOCKET_CLOSED'],
    // No socket is held while waiting or suspended, so none can close there.
    holdsNothing: ['client.waiting', 'client.suspended.untilActive', 'client.suspended.untilResumed'],
    // (`open` has its stableAfter delay; after it, an open socket lasts until either side closes it.)
    mayWait: {
      'client.suspended.untilActive': 'evicted as idle (4001): it waits for the app to report activity',
      'client.suspended.untilResumed':
        'the server said retrying cannot help: it waits for the app to resume()',
    },
  },
];

describe.each(machines)('the $machine.id machine graph', ({ machine, mustHandle, holdsNothing, mayWait }) => {
  const facts = exploreMachine(machine);

  it('reaches its final state from every reachable state', () => {
    expect(facts.stuck, `states that can never end: ${facts.stuck.join('; ')}`).toEqual([]);
  });

  it('has no unreachable state node', () => {
    const reached = new Set(
      [...facts.configurations.values()].flatMap((config) =>
        config.flatMap((leaf) => {
          const ids: string[] = [];
          for (let node: typeof leaf | undefined = leaf; node !== undefined; node = node.parent)
            ids.push(node.id);
          return ids;
        }),
      ),
    );
    expect(
      allStateNodes(machine)
        .map((node) => node.id)
        .filter((id) => !reached.has(id)),
    ).toEqual([]);
  });

  it.runIf(mustHandle.length > 0).each(mustHandle)('handles %s in every non-final state', (eventType) => {
    expect(statesNotHandling(machine, eventType)).toEqual(holdsNothing);
  });

  it('has a delayed transition out of every state that may not wait forever', () => {
    const waiting = configurationsWithoutDelay(facts).filter((key) => !(key in mayWait));
    expect(waiting, `states that could wait forever: ${waiting.join('; ')}`).toEqual([]);
    // The allowances name states that exist and do wait; stale ones are removed.
    expect(
      configurationsWithoutDelay(facts)
        .filter((key) => key in mayWait)
        .sort(),
    ).toEqual(Object.keys(mayWait).sort());
  });
});

describe('the checks themselves', () => {
  // b: cannot end, ignores socket errors, and waits on nothing but the peer.
  const broken = createMachine({
    id: 'broken',
    initial: 'a',
    states: {
      a: {
        after: { 10: 'done' },
        on: { GO: 'b', SOCKET_CLOSED: 'done', SOCKET_ERRORED: 'done' },
      },
      b: { on: { SOCKET_CLOSED: 'b' } },
      done: { type: 'final' },
    },
  });

  it('name a state that can never reach the final state', () => {
    expect(exploreMachine(broken).stuck).toEqual(['broken.b']);
  });

  it('name a state that does not handle an event', () => {
    expect(statesNotHandling(broken, 'SOCKET_ERRORED')).toEqual(['broken.b']);
    expect(statesNotHandling(broken, 'SOCKET_CLOSED')).toEqual([]);
  });

  it('name a state with no delayed transition out', () => {
    expect(configurationsWithoutDelay(exploreMachine(broken))).toEqual(['broken.b']);
  });

  it('follow parallel regions: a final state reached from one region ends them all', () => {
    const parallel = createMachine({
      id: 'p',
      initial: 'both',
      states: {
        both: {
          type: 'parallel',
          states: {
            left: { initial: 'l1', states: { l1: { on: { L: 'l2' } }, l2: {} } },
            right: { initial: 'r1', states: { r1: { on: { END: '#p.end' } } } },
          },
        },
        end: { type: 'final' },
      },
    });
    const facts = exploreMachine(parallel);
    expect([...facts.configurations.keys()].sort()).toEqual([
      'p.both.left.l1 + p.both.right.r1',
      'p.both.left.l2 + p.both.right.r1',
      'p.end',
    ]);
    expect(facts.stuck).toEqual([]);
  });
});
