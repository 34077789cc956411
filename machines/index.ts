export {
  CloseCodes,
  type ConnectionContext,
  type ConnectionInput,
  connectionMachine,
} from './connection.machine.js';
export type * from './events.js';
export { evictionPoint, planEvictions } from './eviction.js';
export { type HubContext, type HubEvent, type HubInput, hubMachine } from './hub.machine.js';
export { fnv1a, shardId, shardOf } from './shard-of.js';
export {
  type UserShardContext,
  type UserShardEvent,
  type UserShardInput,
  userShardMachine,
} from './user-shard.machine.js';
export {
  type SupervisorReport,
  type UserSupervisorContext,
  type UserSupervisorEvent,
  type UserSupervisorInput,
  userSupervisorMachine,
} from './user-supervisor.machine.js';
