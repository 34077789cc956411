/**
 * `ws-supervisor/testing`: small helpers for an app's own tests, for any test
 * runner (it imports none): an inbox that loses no message, the answer to a
 * refused upgrade, the leak check of a supervisor's books, and serveForTest(): an app on
 * a real server for one test, shut down and checked after it.
 */
export { type Inbox, type InboxClose, type InboxMessage, inbox } from './inbox.js';
export { leaksOf } from './leaks.js';
export { type RefusalAnswer, refusal } from './refusal.js';
export {
  type ManualClock,
  type OpenRefusedError,
  type ServeForTestOptions,
  serveForTest,
  type TestApp,
  type TestableSupervisor,
  type TestClient,
} from './serve-for-test.js';
export { SocketClosedError, type SocketClosedErrorOptions } from './socket-closed-error.js';
export { ShutdownStuckError, TestLeakError } from './test-app-errors.js';
