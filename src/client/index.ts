/**
 * ws-supervisor/client: a reconnecting WebSocket client for browsers and
 * Node that understands ws-supervisor's close codes. It imports no Node
 * built-in and needs only `xstate` and a WebSocket constructor.
 */

export type { ClientBackoff, ClientClose, ClientCloseCause } from '../../machines/client.machine.js';
export {
  ClientCloseCodes,
  type ClientRefusalReason,
  type CloseDisposition,
  type CloseKind,
  closeKindOf,
  closeMessageOf,
  dispositionOf,
  refusalOf,
  retryAfterMsOf,
} from '../../machines/client-close.js';
export type { Clock } from '../clock.js';
export type { AsyncDisposableIfTyped } from '../disposal.js';
export { AppHookError, InvalidOptionError, SupervisorError } from '../errors.js';
export type { OnceOptions } from '../event-waiters.js';
export {
  type Client,
  type ClientCloseEvent,
  type ClientEvents,
  type ClientListener,
  type ClientNext,
  type ClientState,
  createClient,
} from './client.js';
export { type ClientOptions, type ClientUrlContext, clientDefaults } from './options.js';
export type {
  BlobLike,
  ClientData,
  CloseEventLike,
  MessageEventLike,
  WebSocketConstructorLike,
  WebSocketLike,
} from './websocket-like.js';
