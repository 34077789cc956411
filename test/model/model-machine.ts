/**
 * The test model of a machine, for `xstate/graph`: the same states, the same
 * transitions and the same implementations, with two changes that graph
 * traversal needs (it refuses machines that invoke or wait):
 *   - each delay becomes an event, `after <delay>`, that a test performs by
 *     letting exactly that delay elapse on the actor's clock;
 *   - invocations are dropped: the model's events stand for what an invoked
 *     actor would have reported (the connection machine invokes nothing; it
 *     subscribes to its transport, which the model's input stubs out);
 *   - `replaceActions` swaps actions that need the real world (a parent to
 *     report to) for no-ops: the model computes states, not effects;
 *   - `refine` may add what the machine leaves to its transport, as model-only
 *     events and context (see the connection model's activity clock), and
 *     `implementations` may replace guards that read the transport.
 */
import { type AnyStateMachine, createMachine } from 'xstate';

type StateConfig = {
  after?: Record<string, unknown>;
  on?: Record<string, unknown>;
  invoke?: unknown;
  states?: Record<string, StateConfig>;
  [key: string]: unknown;
};

/** The event type that stands for a delay in the model. */
export const afterEvent = (delay: string) => `after ${delay}`;

function toModelState(config: StateConfig): StateConfig {
  const { after, invoke: _invoke, states, ...rest } = config;
  const on = { ...(config.on ?? {}) };
  for (const [delay, transition] of Object.entries(after ?? {})) {
    if (/^\d+$/.test(delay)) throw new Error(`inline delay ${delay} ms: name every delay in setup()`);
    on[afterEvent(delay)] = transition;
  }
  const model: StateConfig = { ...rest, on };
  if (states !== undefined) {
    model.states = Object.fromEntries(
      Object.entries(states).map(([key, child]) => [key, toModelState(child)]),
    );
  }
  return model;
}

export interface ModelOptions {
  replaceActions?: readonly string[];
  /** Edits the derived config in place (model-only events, context). */
  refine?: (config: StateConfig) => void;
  /** Guards and actions the model adds or replaces. */
  implementations?: { guards?: Record<string, unknown>; actions?: Record<string, unknown> };
}

export type { StateConfig };

export function toModelMachine(machine: AnyStateMachine, options: ModelOptions = {}): AnyStateMachine {
  const config = toModelState(machine.config as unknown as StateConfig);
  options.refine?.(config);
  const noop = () => {};
  const implementations = {
    ...machine.implementations,
    guards: { ...machine.implementations.guards, ...options.implementations?.guards },
    actions: {
      ...machine.implementations.actions,
      ...Object.fromEntries((options.replaceActions ?? []).map((name) => [name, noop])),
      ...options.implementations?.actions,
    },
  };
  // biome-ignore lint/suspicious/noExplicitAny: the derived config has the machine's own shape
  return createMachine(config as any, implementations as any);
}
