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
 *     report to) for no-ops: the model computes states, not effects.
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

export function toModelMachine(
  machine: AnyStateMachine,
  replaceActions: readonly string[] = [],
): AnyStateMachine {
  const config = toModelState(machine.config as unknown as StateConfig);
  const noop = () => {};
  const implementations = {
    ...machine.implementations,
    actions: {
      ...machine.implementations.actions,
      ...Object.fromEntries(replaceActions.map((name) => [name, noop])),
    },
  };
  // biome-ignore lint/suspicious/noExplicitAny: the derived config has the machine's own shape
  return createMachine(config as any, implementations as any);
}
