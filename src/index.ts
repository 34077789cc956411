/**
 * ws-supervisor: supervise WebSocket connections with XState actors.
 * Everything a user imports is re-exported here; anything else is internal.
 */

export type { AtLimitPolicy, DisposeReason, EvictionCause, RefusalReason } from '../machines/events.js';
export {
  connectionMachine,
  hubMachine,
  leaseMachine,
  refusalMachine,
  userSupervisorMachine,
} from '../machines/index.js';
export type { AdmissionRate } from './admission-rate.js';
export type { AdmissionState, ProcessRefusal } from './admission-state.js';
export type { AllowedOrigin, OriginAllowlist } from './allowed-origins.js';
export type { AttachableServer, AttachOptions } from './attach.js';
export type { AuditReport } from './audit.js';
export {
  type ChartDelay,
  type ChartEdge,
  type ChartEdgeKind,
  type ChartFormat,
  type ChartGraph,
  type ChartName,
  type ChartNode,
  type ChartNodeType,
  chartFormats,
  charts,
  machineGraph,
  type RenderChartOptions,
  renderChart,
} from './chart/index.js';
export type { Clock } from './clock.js';
export type {
  BreakerState,
  ClusterStats,
} from './cluster/cluster-admission.js';
export type {
  ClusterOptions,
  ClusterSettings,
  RedisClientLike,
  RedisClusterLike,
  RedisClusterNodes,
  RedisSentinelAuth,
  RedisSentinelLike,
  RedisSentinelNode,
  RedisSentinelNodes,
  RedisTarget,
  ResolvedClusterOptions,
  StoreUnavailablePolicy,
} from './cluster/cluster-options.js';
export type {
  RedisNodeLike,
  RedisSentinelSubscriberLike,
  RedisSubscriberLike,
} from './cluster/redis-client.js';
export {
  type ClusterAdmission,
  type ClusterDelivery,
  type ClusterNode,
  type ClusterUserBook,
  type ClusterView,
  type EvictionOrder,
  type HeldConnection,
  type IncarnationChangeCause,
  type InstanceClaim,
  type ReadmitAnswer,
  type ReapedIncarnation,
  type SendAcrossOutcome,
  type SlotStore,
  type SlotStoreEvents,
  SlotStoreUnavailableError,
} from './cluster/slot-store.js';
export type { ConnectionHandle } from './connection-handle.js';
export type { AsyncDisposableIfTyped, DisposableIfTyped } from './disposal.js';
export {
  AppHookError,
  type AppHookName,
  type ErrorCode,
  ErrorCodes,
  InvalidOptionError,
  MissingPeerError,
  type ReportedError,
  SupervisorError,
} from './errors.js';
export type { OnceOptions } from './event-waiters.js';
export type {
  AdmittedEvent,
  CapacityEvent,
  DisposedEvent,
  DisposeInfo,
  EvictedEvent,
  IncarnationEvent,
  OfflineEvent,
  ReapedEvent,
  RejectedEvent,
  RejectedEventFields,
  RejectReason,
  SocketErrorInfo,
  StoreEvent,
  SupervisorEventMap,
  SupervisorEventName,
} from './events.js';
export type { MessageRate } from './message-rate.js';
export {
  type ActivityMode,
  type AuthenticateContext,
  type AuthResult,
  defaultRetryAfterMs,
  type Limits,
  type OptionalFields,
  type PresetName,
  presets,
  type RefuseMode,
  type ResolvedOptions,
  type RetryAfterDefaults,
  resolveOptions,
  type SupervisorOptions,
} from './options.js';
export type { ReadyOptions } from './ready.js';
export { MAX_CLOSE_REASON_BYTES, Refusal, type RefusalStatus } from './refusal.js';
export type {
  BroadcastOptions,
  ClusterFlag,
  ClusterSendResult,
  DisconnectOptions,
  RoomSendOptions,
  SendData,
  SendOptions,
} from './registry.js';
export { MAX_ROOM_BYTES, roomNameProblem } from './rooms.js';
export type { ClusterWideStats, StatsOptions, SupervisorStats, UserStats } from './stats.js';
export {
  createSupervisor,
  type ShutdownOptions,
  type ShutdownPace,
  type Supervisor,
} from './supervisor.js';
export { MAX_USER_ID_BYTES, MAX_USER_ID_LENGTH, userIdProblem } from './user-id.js';
