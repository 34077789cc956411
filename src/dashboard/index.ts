/**
 * `ws-supervisor/dashboard`: the live dashboard as a request handler that an
 * app mounts on its own server (issue 11, item 8), and the access rule it
 * shares with the app's own routes.
 */
export { type AccessVerdict, type Authorize, checkAccess, tokenAuthorizer } from './access.js';
export type { Activity, ActivityKind, StateCounts, StatsView, UserBar } from './activity.js';
export { createDashboard, type Dashboard, type DashboardOptions } from './handler.js';
