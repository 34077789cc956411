/**
 * ws-supervisor's own machines by chart name: a module of their own, so that the chart graph
 * (graph.ts, through delays.ts) can recognise them without importing index.ts, which imports it.
 */
import { clientMachine } from '../../machines/client.machine.js';
import { connectionMachine } from '../../machines/connection.machine.js';
import { dashboardFeedMachine } from '../../machines/dashboard-feed.machine.js';
import { hubMachine } from '../../machines/hub.machine.js';
import { leaseMachine } from '../../machines/lease.machine.js';
import { refusalMachine } from '../../machines/refusal.machine.js';
import { storeWatchdogMachine } from '../../machines/store-watchdog.machine.js';
import { userSupervisorMachine } from '../../machines/user-supervisor.machine.js';

/**
 * ws-supervisor's own machines, by the name the CLI and `docs/machines/` use. Frozen, as presets is.
 * `dashboard` is the mounted dashboard's clock (its feed), drawn for review; the machine itself
 * is internal to `ws-supervisor/dashboard`, so `ws-supervisor/machines` does not export it.
 */
export const charts = Object.freeze({
  connection: connectionMachine,
  supervisor: userSupervisorMachine,
  hub: hubMachine,
  lease: leaseMachine,
  watchdog: storeWatchdogMachine,
  refusal: refusalMachine,
  client: clientMachine,
  dashboard: dashboardFeedMachine,
} as const);
/** The name of one of ws-supervisor's own machines, as the CLI and `docs/machines/` use it. */
export type ChartName = keyof typeof charts;
