/**
 * What the runtime (cluster-admission.ts) makes of a slot store's answers and failures.
 * A `cluster.store` of the app's own is untyped at run time: each answer is checked
 * before the runtime acts on it, and one out of contract is reported once (StoreContract)
 * and fails its call as an outage would, since what the store did is then unknown. A
 * store call's failure becomes the typed error the app and `onError` see.
 */
import { BrokenCircuitError } from 'cockatiel';
import { carriesForeignSubclassCode, describeValue, SupervisorError } from '../errors.js';
import type { ClusterDelivery } from './cluster-sends.js';
import type { ClusterAdmission, EvictionOrder, ReadmitAnswer, SendAcrossOutcome } from './slot-store.js';
import { SlotStoreUnavailableError } from './slot-store.js';
import type { StoreContract } from './store-contract.js';

/** Whether a store call failed because the store holds another format (store-format.ts). */
export const isFormatError = (error: unknown) =>
  error instanceof SupervisorError && error.code === 'WSSUP_STORE_FORMAT';

/** A store call's failure as reported, or undefined when there is nothing to tell. */
export function storeError(operation: string, error: unknown): SupervisorError | undefined {
  // An open breaker refused the call without reaching the store: the `store` event said so once.
  if (error instanceof BrokenCircuitError) return undefined;
  // As thrown, unless it carries a code onError's type ties to a class it is not of (errors.ts).
  if (error instanceof SupervisorError && !carriesForeignSubclassCode(error)) return error;
  // Why, in the message too: an app that logs `${code}: ${message}` saw only "stop failed".
  const why = error instanceof Error ? error.message : String(error);
  return new SupervisorError('WSSUP_STORE_UNAVAILABLE', `slot store: ${operation} failed: ${why}`, {
    cause: error,
  });
}

/** A cluster-wide send's outcome as the app reads it (ClusterSendResult without this process's part). */
export interface AcrossCounts {
  nodes: number;
  unreached: number;
}

/**
 * A store's answer to sendAcross as counts (a number: every process concerned was told).
 * An answer out of contract (an app's store, untyped at run time) says nothing of who was
 * told: it fails the send, and is reported once (`contract`).
 */
export function acrossCounts(answer: unknown, contract: StoreContract): AcrossCounts & { cause?: unknown } {
  if (isCount(answer)) return { nodes: answer, unreached: 0 };
  if (isOutcome(answer)) return answer;
  contract.broken(
    'sendAcross',
    'its sendAcross(delivery) to answer how many processes it told, or { nodes, unreached }',
    answer,
  );
  throw new SlotStoreUnavailableError(
    `the slot store's sendAcross answered ${describeValue(answer)}, out of its contract: which processes were told is unknown`,
  );
}

/**
 * A store's answer to admit, checked: an app's store is untyped at run time, and an answer
 * out of contract (a missing `evict`, say) failed inside the runtime as "answer.evict is not
 * iterable", which named neither the method nor what it should answer. Reported once
 * (`contract`); the call fails as an outage, since whether it booked the slot is unknown.
 */
export function admissionOf(answer: unknown, contract: StoreContract): ClusterAdmission {
  if (isAdmission(answer)) return answer;
  contract.broken(
    'admit',
    "its admit() to answer { admitted: true, evict: [EvictionOrder…], live } or { admitted: false, reason: 'user-limit' | 'duplicate-connection', live, evict? }",
    answer,
  );
  throw new SlotStoreUnavailableError(
    `slot store: admit answered ${describeValue(answer)}, out of its contract: whether it booked the connection is unknown`,
  );
}

function isAdmission(value: unknown): value is ClusterAdmission {
  if (typeof value !== 'object' || value === null) return false;
  const { admitted, evict, reason } = value as Partial<Record<'admitted' | 'evict' | 'reason', unknown>>;
  const orders = (list: unknown) => Array.isArray(list) && list.every(isOrder);
  if (admitted === true) return orders(evict);
  return (
    admitted === false &&
    (reason === 'user-limit' || reason === 'duplicate-connection') &&
    (evict === undefined || orders(evict))
  );
}

export function isOrder(value: unknown): value is EvictionOrder {
  if (typeof value !== 'object' || value === null) return false;
  const { connectionId, nodeId, incarnation, cause } = value as Partial<Record<keyof EvictionOrder, unknown>>;
  return (
    typeof connectionId === 'string' &&
    typeof nodeId === 'string' &&
    typeof incarnation === 'number' &&
    // A cause this version does not know would be taken for an idle eviction here, and dropped
    // over pub/sub by the Redis store: an answer out of the contract.
    (cause === undefined || cause === 'idle' || cause === 'superseded')
  );
}

/**
 * A store's answer to readmit, checked as admit's is: the ids it refused, and the orders it
 * made (`evict`, optional: the superseded entries, see ReadmitAnswer), none when absent.
 */
export function readmitOf(
  answer: unknown,
  contract: StoreContract,
): { refused: string[]; evict: EvictionOrder[] } {
  if (isReadmitAnswer(answer)) return { refused: [...answer], evict: answer.evict ?? [] };
  contract.broken(
    'readmit',
    'its readmit() to answer the ids it refused, an array of strings (with, optionally, evict: [EvictionOrder…])',
    answer,
  );
  throw new SlotStoreUnavailableError(
    `slot store: readmit answered ${describeValue(answer)}, out of its contract: which connections it booked is unknown`,
  );
}

function isReadmitAnswer(value: unknown): value is ReadmitAnswer {
  if (!Array.isArray(value) || !value.every((id) => typeof id === 'string')) return false;
  const { evict } = value as { evict?: unknown };
  return evict === undefined || (Array.isArray(evict) && evict.every(isOrder));
}

/** Processes were concerned and not one was told: the send fails (its local part was served). */
export function noneTold(counts: AcrossCounts & { cause?: unknown }): SlotStoreUnavailableError {
  return new SlotStoreUnavailableError(
    `cluster-wide send: none of the ${counts.unreached} processes concerned could be told`,
    { cause: counts.cause },
  );
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

function isOutcome(value: unknown): value is SendAcrossOutcome {
  if (typeof value !== 'object' || value === null) return false;
  const { nodes, unreached } = value as Partial<Record<'nodes' | 'unreached', unknown>>;
  return isCount(nodes) && isCount(unreached);
}

/** One report for a send that told some processes and not others, however many failed. */
export function partialSendError(delivery: ClusterDelivery, counts: AcrossCounts & { cause?: unknown }) {
  const concerned = counts.nodes + counts.unreached;
  const why = counts.cause instanceof Error ? `: ${counts.cause.message}` : '';
  return new SlotStoreUnavailableError(
    `cluster-wide ${delivery.kind}: ${counts.unreached} of the ${concerned} other processes concerned could not be told, the rest were (not sent again)${why}`,
    { cause: counts.cause },
  );
}

/** What the app sees when a cluster-wide read fails: always the typed error. */
export function unavailable(error: unknown): never {
  if (error instanceof SupervisorError) throw error;
  const message =
    error instanceof BrokenCircuitError
      ? 'the slot store is not answering (circuit open)'
      : 'the slot store failed to answer';
  throw new SlotStoreUnavailableError(message, { cause: error });
}

/** A count a store answered, or undefined when it is not one (a custom store's slip). */
export function countOrUndefined(value: unknown): number | undefined {
  return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : undefined;
}
