/**
 * What sets each delay of our machines. A delay's name is the machine's word for a wait
 * (`heartbeatInterval`, `refusalTimeout`); the option a user sets has another name
 * (`heartbeatIntervalMs`, `closeRefusalTimeoutMs`), and nothing in the definition links
 * them: the machine reads a number from its context. This is the one place that does; the
 * chart graph carries it (`delays[].setBy`, so the JSON and the pages say it), and test/charts/delays.test.ts fails when a machine gains a delay
 * without an entry here (or keeps an entry for a delay it lost).
 */
import type { AnyStateMachine } from 'xstate';
import { type ChartName, charts } from './ours.js';

/**
 * Per chart, per delay: the option (or value) it takes, as Markdown. The function an option
 * belongs to is named when it is not `createSupervisor()`'s.
 */
export const delaySettings: Readonly<Record<ChartName, Readonly<Record<string, string>>>> = Object.freeze({
  connection: {
    connectTimeout: '`connectTimeoutMs`',
    idleTimeout: '`idleTimeoutMs`, less the time already quiet when it is armed again',
    heartbeatInterval: '`heartbeatIntervalMs`: a ping has until the next heartbeat to be answered',
    drainTimeout: '`drainTimeoutMs`',
  },
  supervisor: {
    lingerTimeout: '`lingerMs`',
  },
  hub: {
    shutdownDeadline: '`shutdown({ deadlineMs })`, by default `drainTimeoutMs`',
    batchInterval:
      "`shutdown()`'s `pace.windowMs / pace.batches`, when a `pace` is given (its defaults: half the deadline, 10 batches); unpaced, it never runs",
  },
  lease: {
    renewInterval: '`cluster.leaseTtlMs / 3`',
    reapInterval: '`cluster.reaperIntervalMs`',
    retryInterval: '`cluster.leaseTtlMs / 3`',
  },
  watchdog: {
    period: '`cluster.commandTimeoutMs / 4`',
  },
  refusal: {
    refusalTimeout: '`closeRefusalTimeoutMs`',
  },
  client: {
    connectTimeout: "`createClient()`'s `connectTimeoutMs`",
    retryDelay:
      "planned as it is entered: the server's retry hint plus the backoff (`backoff`) or, after 1001 or 1012, plus a spread over `shutdownWindowMs`; the hint alone after an expired session; 0 when the network is back or on `resume()`",
    stableAfter: "`createClient()`'s `stableAfterMs`",
    closeTimeout: "`createClient()`'s `closeTimeoutMs`",
    silenceTimeout:
      "`createClient()`'s `silenceTimeoutMs`, or by default the server's heartbeat offer (twice its `heartbeatIntervalMs` plus 5 s), less the time already silent when it is armed again",
    nextTurn:
      "none: 0 ms, one turn of the event loop, so that the messages already waiting in the socket are read before the silence check looks again (under Node, without the `clock` option, the client's clock waits until after the next read of the sockets)",
  },
  dashboard: {
    pollInterval: "`createDashboard()`'s `pollMs`",
    batchWindow: "`createDashboard()`'s `batchMs`",
  },
});

/** Our machines' entries by machine, so a graph knows them from the machine alone (not an app's own, nor a `provide()`d copy). */
const byMachine: ReadonlyMap<AnyStateMachine, Readonly<Record<string, string>>> = new Map(
  (Object.keys(charts) as ChartName[]).map((name) => [charts[name] as AnyStateMachine, delaySettings[name]]),
);

/** What sets `delay` of `machine`, as Markdown, when it is one of ours; undefined otherwise. */
export function delaySettingOf(machine: AnyStateMachine, delay: string): string | undefined {
  const settings = byMachine.get(machine);
  return settings !== undefined && Object.hasOwn(settings, delay) ? settings[delay] : undefined;
}
