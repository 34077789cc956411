/**
 * Mutants that remove no transition but break a rule the machine states in
 * its guards and delays: here, the activity clock that replaced an
 * interpreter step per message (issue 10). Each must be caught like a
 * missing transition.
 */
import { sendParent } from 'xstate';
import type { ConnectionMachine } from '../../machines/connection.machine.js';
import type { LeaseMachine } from '../../machines/lease.machine.js';

export const semanticMutants: Record<string, (machine: ConnectionMachine) => ConnectionMachine> = {
  // The idle delay ignores the activity clock: a connection that talks goes idle anyway.
  'guard isQuiet: always quiet': (machine) => machine.provide({ guards: { isQuiet: () => true } }),
  // The idle delay re-arms for a whole idleTimeoutMs, not for the time left.
  'delay idleTimeout: always the whole timeout': (machine) =>
    machine.provide({ delays: { idleTimeout: ({ context }) => context.idleTimeoutMs } }),
  // The idle report carries the time it was sent, not the time of the last activity:
  // idle delays that fire late, together, would reorder the longest idle first.
  'action notifyIdle: the time of the report': (machine) =>
    machine.provide({
      actions: {
        notifyIdle: sendParent(({ context }) => ({
          type: 'CHILD_IDLE' as const,
          connectionId: context.connectionId,
          lastActivityAt: context.transport.lastActivityAt() + context.transport.quietForMs(),
        })),
      },
    }),
};

/**
 * The lease's rule that a RENEW_NOW during a call is owed once (issue 12): a debt never
 * cleared renews back to back forever, a Redis round trip after another.
 */
export const leaseSemanticMutants: Record<string, (machine: LeaseMachine) => LeaseMachine> = {
  'lease: action clearRenewalOwed never clears': (machine) =>
    machine.provide({ actions: { clearRenewalOwed: () => {} } }),
};

/** Which machine a mutant changes: the key starts with the machine's id (`lease.…`, `lease: …`). */
export function mutatedMachine(mutant: string): 'connection' | 'userSupervisor' | 'lease' {
  if (mutant.startsWith('userSupervisor.')) return 'userSupervisor';
  if (mutant.startsWith('lease.') || mutant in leaseSemanticMutants) return 'lease';
  return 'connection';
}
