/**
 * Setup file of a mutation run (only loaded when WSSUP_MUTANT names a
 * mutant): the runtime's connection machine, user supervisor, lease, close
 * refusal, store watchdog or dashboard feed loses that transition (the key
 * names its machine: `connection.…`, `userSupervisor.…`, `lease.…`,
 * `refusal.…`, `storeWatchdog.…` or `dashboardFeed.…`), or the connection machine, the lease or
 * the client gets one of the semantic mutants of semantic-mutants.ts. Tests that walk the specification load the
 * committed machines with `vi.importActual` (test/model/spec.ts), so only the
 * system under test changes.
 */
import { vi } from 'vitest';

import { mutatedMachine } from './semantic-mutants.js';

const mutant = () => process.env.WSSUP_MUTANT as string;
const mutatesSupervisor = () => mutatedMachine(mutant()) === 'userSupervisor';

vi.mock('../../machines/connection.machine.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../machines/connection.machine.js')>();
  if (mutatedMachine(mutant()) !== 'connection') return actual;
  const { withoutTransition } = await import('./remove-transition.js');
  const { semanticMutants } = await import('./semantic-mutants.js');
  const semantic = semanticMutants[mutant()];
  const connectionMachine =
    semantic === undefined
      ? withoutTransition(actual.connectionMachine, mutant())
      : semantic(actual.connectionMachine);
  return { ...actual, connectionMachine };
});

vi.mock('../../machines/user-supervisor.machine.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../machines/user-supervisor.machine.js')>();
  if (!mutatesSupervisor()) return actual;
  const { withoutTransition } = await import('./remove-transition.js');
  const { supervisorSemanticMutants } = await import('./semantic-mutants.js');
  const semantic = supervisorSemanticMutants[mutant()];
  const userSupervisorMachine =
    semantic === undefined
      ? withoutTransition(actual.userSupervisorMachine, mutant())
      : semantic(actual.userSupervisorMachine);
  return { ...actual, userSupervisorMachine };
});

vi.mock('../../machines/lease.machine.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../machines/lease.machine.js')>();
  if (mutatedMachine(mutant()) !== 'lease') return actual;
  const { withoutTransition } = await import('./remove-transition.js');
  const { leaseSemanticMutants } = await import('./semantic-mutants.js');
  const semantic = leaseSemanticMutants[mutant()];
  const leaseMachine =
    semantic === undefined ? withoutTransition(actual.leaseMachine, mutant()) : semantic(actual.leaseMachine);
  return { ...actual, leaseMachine };
});

vi.mock('../../machines/client.machine.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../machines/client.machine.js')>();
  if (mutatedMachine(mutant()) !== 'client') return actual;
  const { withoutTransition } = await import('./remove-transition.js');
  const { clientSemanticMutants } = await import('./semantic-mutants.js');
  const semantic = clientSemanticMutants[mutant()];
  const clientMachine =
    semantic === undefined
      ? (withoutTransition(actual.clientMachine, mutant()) as typeof actual.clientMachine)
      : semantic(actual.clientMachine);
  return { ...actual, clientMachine };
});

vi.mock('../../machines/refusal.machine.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../machines/refusal.machine.js')>();
  if (mutatedMachine(mutant()) !== 'refusal') return actual;
  const { withoutTransition } = await import('./remove-transition.js');
  const refusalMachine = withoutTransition(actual.refusalMachine, mutant()) as typeof actual.refusalMachine;
  return { ...actual, refusalMachine };
});

vi.mock('../../machines/store-watchdog.machine.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../machines/store-watchdog.machine.js')>();
  if (mutatedMachine(mutant()) !== 'storeWatchdog') return actual;
  const { withoutTransition } = await import('./remove-transition.js');
  const { storeWatchdogSemanticMutants } = await import('./semantic-mutants.js');
  const semantic = storeWatchdogSemanticMutants[mutant()];
  const storeWatchdogMachine =
    semantic === undefined
      ? (withoutTransition(actual.storeWatchdogMachine, mutant()) as typeof actual.storeWatchdogMachine)
      : semantic(actual.storeWatchdogMachine);
  return { ...actual, storeWatchdogMachine };
});

vi.mock('../../machines/dashboard-feed.machine.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../machines/dashboard-feed.machine.js')>();
  if (mutatedMachine(mutant()) !== 'dashboardFeed') return actual;
  const { withoutTransition } = await import('./remove-transition.js');
  const { dashboardFeedSemanticMutants } = await import('./semantic-mutants.js');
  const semantic = dashboardFeedSemanticMutants[mutant()];
  const dashboardFeedMachine =
    semantic === undefined
      ? (withoutTransition(actual.dashboardFeedMachine, mutant()) as typeof actual.dashboardFeedMachine)
      : semantic(actual.dashboardFeedMachine);
  return { ...actual, dashboardFeedMachine };
});
