export {
  type ClientBackoff,
  type ClientClose,
  type ClientContext,
  type ClientEmitted,
  type ClientEvent,
  type ClientInput,
  type ClientNetworkInput,
  type ClientSilence,
  clientMachine,
} from './client.machine.js';
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
} from './client-close.js';
export {
  CloseCodes,
  type ConnectionContext,
  type ConnectionInput,
  connectionMachine,
  type EndParams,
} from './connection.machine.js';
export type * from './events.js';
export { evictionPoint, planEvictions } from './eviction.js';
export { type HubContext, type HubEvent, type HubPace, type HubRequest, hubMachine } from './hub.machine.js';
export { type LeaseContext, type LeaseEvent, type LeaseInput, leaseMachine } from './lease.machine.js';
export {
  type RefusalEvent,
  type RefusalInput,
  type RefusalTransport,
  refusalMachine,
} from './refusal.machine.js';
export {
  type StoreWatchdogContext,
  type StoreWatchdogEvent,
  type StoreWatchdogInput,
  storeWatchdogMachine,
} from './store-watchdog.machine.js';
export {
  type BookCounts,
  bookCounts,
  type IdleChild,
  type InstanceChild,
  type UserSupervisorContext,
  type UserSupervisorEvent,
  type UserSupervisorInput,
  userSupervisorMachine,
} from './user-supervisor.machine.js';
