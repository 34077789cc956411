/**
 * `ws-supervisor/testing`: small helpers for an app's own tests, for any test
 * runner (it imports none): an inbox that loses no message, the answer to a
 * refused upgrade, and the leak check of a supervisor's books.
 */
export { type Inbox, type InboxClose, type InboxMessage, inbox } from './inbox.js';
export { leaksOf } from './leaks.js';
export { type RefusalAnswer, refusal } from './refusal.js';
export { SocketClosedError, type SocketClosedErrorOptions } from './socket-closed-error.js';
