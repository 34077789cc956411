/**
 * Coverage of a machine by the real runtime: which of its state nodes were
 * entered and which of its transitions were taken, read from XState's own
 * `@xstate.microstep` inspection events while real sockets drive the actors.
 */
import type { AnyStateMachine, AnyTransitionDefinition, InspectionEvent } from 'xstate';
import { activeStateIds, allStateNodes, allTransitions, transitionKey } from './transitions.js';

/**
 * Transitions that no real action can take, each with the reason and the
 * machine test that covers it instead. Keep this list short: every entry is a
 * path the model-based suite does not prove.
 */
export type Exemptions = Readonly<Record<string, string>>;

export interface CoverageReport {
  machine: string;
  states: { total: number; missing: string[] };
  transitions: { total: number; walked: number; missing: string[] };
  /** Exempted transitions that no longer exist in the machine. */
  staleExemptions: string[];
  /** Exempted transitions that were walked after all: the exemption is wrong. */
  walkedExemptions: string[];
}

export class MachineCoverage {
  readonly machineId: string;
  readonly #stateIds: string[];
  readonly #transitionKeys: string[];
  readonly #seenStates = new Set<string>();
  readonly #seenTransitions = new Set<string>();

  constructor(
    machine: AnyStateMachine,
    private readonly exemptions: Exemptions = {},
  ) {
    this.machineId = machine.id;
    this.#stateIds = allStateNodes(machine).map((node) => node.id);
    this.#transitionKeys = allTransitions(machine).map((t) => t.key);
  }

  /** Feed every inspection event of a system; events of other machines are ignored. */
  record(event: InspectionEvent): void {
    const { logic } = event.actorRef as { logic?: { id?: string } };
    if (logic?.id !== this.machineId) return;
    if (event.type === '@xstate.microstep') {
      const transitions = (event as { _transitions?: AnyTransitionDefinition[] })._transitions ?? [];
      for (const transition of transitions) this.#seenTransitions.add(transitionKey(transition));
    }
    if (event.type === '@xstate.microstep' || event.type === '@xstate.snapshot') {
      const value = (event.snapshot as { value?: unknown }).value;
      if (value !== undefined) {
        for (const id of activeStateIds(this.machineId, value)) this.#seenStates.add(id);
      }
    }
  }

  get exemptCount(): number {
    return Object.keys(this.exemptions).length;
  }

  report(): CoverageReport {
    const exempt = new Set(Object.keys(this.exemptions));
    const walked = this.#transitionKeys.filter((key) => this.#seenTransitions.has(key));
    return {
      machine: this.machineId,
      states: {
        total: this.#stateIds.length,
        missing: this.#stateIds.filter((id) => !this.#seenStates.has(id)),
      },
      transitions: {
        total: this.#transitionKeys.length,
        walked: walked.length,
        missing: this.#transitionKeys.filter((key) => !this.#seenTransitions.has(key) && !exempt.has(key)),
      },
      staleExemptions: [...exempt].filter((key) => !this.#transitionKeys.includes(key)),
      walkedExemptions: [...exempt].filter((key) => this.#seenTransitions.has(key)),
    };
  }
}

/** A failure message that names every gap, or undefined when there is none. */
export function describeGaps(report: CoverageReport): string | undefined {
  const lines: string[] = [];
  const list = (title: string, items: string[]) => {
    if (items.length > 0) lines.push(`${title}:`, ...items.map((item) => `  - ${item}`));
  };
  list('state nodes never entered', report.states.missing);
  list('transitions never taken', report.transitions.missing);
  list('exemptions naming a transition that does not exist (remove them)', report.staleExemptions);
  list('exempted transitions that were taken after all (remove the exemption)', report.walkedExemptions);
  if (lines.length === 0) return undefined;
  return [
    `The model-based paths did not walk all of machine "${report.machine}".`,
    ...lines,
    'Add an event (and the real action that causes it) to the model so that a path walks each one,',
    'or, if no real action can cause it, exempt it in the test file with the reason.',
  ].join('\n');
}
