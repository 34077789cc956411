/**
 * The machines as committed: the specification that model-based tests walk.
 *
 * Loaded with `vi.importActual`, so that the mutation check (which swaps the
 * runtime's connection machine for one with a transition removed, see
 * test/mutants/) changes the system under test and never the specification.
 */
import { vi } from 'vitest';

type ConnectionModule = typeof import('../../machines/connection.machine.js');
type UserSupervisorModule = typeof import('../../machines/user-supervisor.machine.js');
type HubModule = typeof import('../../machines/hub.machine.js');
type ClientModule = typeof import('../../machines/client.machine.js');
type LeaseModule = typeof import('../../machines/lease.machine.js');
type RefusalModule = typeof import('../../machines/refusal.machine.js');
type StoreWatchdogModule = typeof import('../../machines/store-watchdog.machine.js');
type DashboardFeedModule = typeof import('../../machines/dashboard-feed.machine.js');

export async function loadSpecMachines() {
  const [connection, userSupervisor, hub, client, lease, refusal, storeWatchdog, dashboardFeed] =
    await Promise.all([
      vi.importActual<ConnectionModule>('../../machines/connection.machine.js'),
      vi.importActual<UserSupervisorModule>('../../machines/user-supervisor.machine.js'),
      vi.importActual<HubModule>('../../machines/hub.machine.js'),
      vi.importActual<ClientModule>('../../machines/client.machine.js'),
      vi.importActual<LeaseModule>('../../machines/lease.machine.js'),
      vi.importActual<RefusalModule>('../../machines/refusal.machine.js'),
      vi.importActual<StoreWatchdogModule>('../../machines/store-watchdog.machine.js'),
      vi.importActual<DashboardFeedModule>('../../machines/dashboard-feed.machine.js'),
    ]);
  return {
    connectionMachine: connection.connectionMachine,
    userSupervisorMachine: userSupervisor.userSupervisorMachine,
    hubMachine: hub.hubMachine,
    clientMachine: client.clientMachine,
    leaseMachine: lease.leaseMachine,
    refusalMachine: refusal.refusalMachine,
    storeWatchdogMachine: storeWatchdog.storeWatchdogMachine,
    dashboardFeedMachine: dashboardFeed.dashboardFeedMachine,
  };
}
