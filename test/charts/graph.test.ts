/**
 * machineGraph(): every state and every transition of a definition, in a
 * stable JSON shape. Checked on a small machine with every construct, against
 * XState's own state nodes (nothing dropped), and on our three machines.
 */

import { describe, expect, it } from 'vitest';
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import {
  type ChartEdge,
  chartFormats,
  charts,
  machineGraph,
  type RenderChartOptions,
  renderChart,
} from '../../src/chart/index.js';
import { LABEL_INDENT } from '../../src/chart/layout.js';
import { SupervisorError } from '../../src/errors.js';
import { sampleMachine } from './sample.machine.js';

const pick = (edge: ChartEdge) => [edge.source, edge.target, edge.event];
/** XState's own state nodes, root included, read independently of machineGraph. */
const everyStateNode = (node: AnyStateNode): AnyStateNode[] => [
  node,
  ...Object.values(node.states).flatMap(everyStateNode),
];

describe('machineGraph on a machine with every construct', () => {
  const graph = machineGraph(sampleMachine);

  it('lists every state by dot path, depth first, with its parent, type and initial mark', () => {
    expect(graph).toMatchObject({ format: 'ws-supervisor-chart', version: 1, machine: 'sample' });
    expect(graph.nodes).toEqual([
      { id: 'idle', key: 'idle', parent: null, type: 'atomic', initial: true },
      { id: 'working', key: 'working', parent: null, type: 'parallel' },
      { id: 'working.task', key: 'task', parent: 'working', type: 'compound' },
      { id: 'working.task.running', key: 'running', parent: 'working.task', type: 'atomic', initial: true },
      {
        id: 'working.task.failed',
        key: 'failed',
        parent: 'working.task',
        type: 'atomic',
        entry: ['log'],
        exit: ['log', 'log'],
      },
      { id: 'working.task.done', key: 'done', parent: 'working.task', type: 'final' },
      { id: 'working.watch', key: 'watch', parent: 'working', type: 'compound' },
      { id: 'working.watch.running', key: 'running', parent: 'working.watch', type: 'atomic', initial: true },
      { id: 'working.watch.paused', key: 'paused', parent: 'working.watch', type: 'atomic' },
      { id: 'end', key: 'end', parent: null, type: 'final' },
    ]);
  });

  it('lists every transition in definition order, with its kind, guard, delay and flags', () => {
    expect(graph.edges).toEqual([
      { source: '', target: 'idle', event: 'RESET', kind: 'event' },
      { source: '', target: '', event: 'TICK', kind: 'event', internal: true, actions: ['log'] },
      { source: 'idle', target: 'working', event: 'GO', kind: 'event', guard: 'isReady' },
      { source: 'idle', target: 'idle', event: 'PING', kind: 'event', internal: true, actions: ['log'] },
      { source: 'working', target: 'end', event: 'STOP', kind: 'event' },
      {
        source: 'working.task.running',
        target: 'working.task.done',
        event: 'xstate.done.actor.job',
        kind: 'done',
      },
      {
        source: 'working.task.running',
        target: 'working.task.failed',
        event: 'xstate.error.actor.job',
        kind: 'error',
      },
      {
        source: 'working.task.failed',
        target: 'working.task.running',
        event: 'xstate.after.retryDelay.sample.working.task.failed',
        kind: 'delay',
        delay: 'retryDelay',
        delayMs: 250,
      },
      {
        source: 'working.watch.running',
        target: 'working.watch.running',
        event: 'PING',
        kind: 'event',
        guard: 'inline',
      },
      {
        source: 'working.watch.running',
        target: 'working.watch.paused',
        event: 'xstate.after.1000.sample.working.watch.running',
        kind: 'delay',
        delay: '1000',
        delayMs: 1000,
      },
      {
        source: 'working.watch.running',
        target: 'working.watch.running',
        event: 'xstate.after.pollDelay.sample.working.watch.running',
        kind: 'delay',
        delay: 'pollDelay',
        reenter: true,
      },
      {
        source: 'working.watch.paused',
        target: 'working.watch.running',
        event: '',
        kind: 'always',
        guard: 'isReady && !isBusy',
      },
    ]);
  });

  it("names a state's entry and exit actions, but not the raise and cancel that schedule its own delays", () => {
    // `failed` has a delay (retryDelay): XState adds a raise to its entry and a cancel to its exit.
    const failed = sampleMachine.root.states.working?.states.task?.states.failed as AnyStateNode;
    expect(failed.entry.length).toBe(2);
    expect(failed.exit.length).toBe(3);
    const connection = machineGraph(charts.connection);
    const node = (id: string) => connection.nodes.find((candidate) => candidate.id === id);
    expect(node('active.activity.live')).toMatchObject({
      entry: ['deliverDirectly'],
      exit: ['deliverViaMachine'],
    });
    expect(node('active.activity.idle')).toMatchObject({ entry: ['notifyIdle'] });
    expect(node('draining')).toMatchObject({ entry: ['notifyDraining'] });
    // Delays only: nothing of its own on the way in or out.
    expect(node('connecting')).not.toHaveProperty('entry');
    expect(node('connecting')).not.toHaveProperty('exit');
  });

  it('sums up the events, guards and delays, sorted; a computed delay has no ms', () => {
    expect(graph.events).toEqual([
      'GO',
      'PING',
      'RESET',
      'STOP',
      'TICK',
      'xstate.done.actor.job',
      'xstate.error.actor.job',
    ]);
    expect(graph.guards).toEqual(['inline', 'isReady', 'isReady && !isBusy']);
    expect(graph.delays).toEqual([
      { name: '1000', ms: 1000 },
      { name: 'pollDelay' },
      { name: 'retryDelay', ms: 250 },
    ]);
  });

  it('serialises to the same JSON every time', async () => {
    const json = await renderChart(sampleMachine, { format: 'json' });
    expect(json).toBe(`${JSON.stringify(machineGraph(sampleMachine), null, 2)}\n`);
    expect(JSON.parse(json)).toEqual(graph);
  });
});

describe.each([...Object.entries(charts), ['sample', sampleMachine] as const])(
  'machineGraph of %s',
  (_name, machine) => {
    const graph = machineGraph(machine as AnyStateMachine);

    it('has one node per state node below the root, and one edge per transition target', () => {
      const stateNodes = everyStateNode((machine as AnyStateMachine).root).filter(
        (node) => node.parent !== undefined,
      );
      expect(graph.nodes.map((node) => node.id).sort()).toEqual(
        stateNodes.map((node) => node.path.join('.')).sort(),
      );

      const expected = (node: AnyStateNode) =>
        [...node.transitions.values(), node.always ?? []]
          .flat()
          .reduce((count, transition) => count + Math.max(1, transition.target?.length ?? 0), 0);
      for (const node of everyStateNode((machine as AnyStateMachine).root)) {
        const source = node.path.join('.');
        expect(graph.edges.filter((edge) => edge.source === source).length, `edges of "${source}"`).toBe(
          expected(node),
        );
      }
    });

    it('only links states that exist, and names every guard and delay it uses', () => {
      const ids = new Set(graph.nodes.map((node) => node.id));
      for (const edge of graph.edges) {
        expect(edge.source === '' || ids.has(edge.source), edge.source).toBe(true);
        expect(ids.has(edge.target) || (edge.internal === true && edge.target === ''), edge.target).toBe(
          true,
        );
        if (edge.guard !== undefined) expect(graph.guards).toContain(edge.guard);
        if (edge.kind === 'delay') expect(graph.delays.map((delay) => delay.name)).toContain(edge.delay);
      }
      expect(graph.events).toEqual([...graph.events].sort());
    });

    it('is deterministic', () => {
      expect(JSON.stringify(machineGraph(machine as AnyStateMachine))).toBe(JSON.stringify(graph));
    });
  },
);

describe('machineGraph on our machines', () => {
  it('connection: the lifecycle, the parallel regions, and each delay by name', () => {
    const graph = machineGraph(charts.connection);
    expect(graph.nodes.map((node) => node.id)).toEqual([
      'connecting',
      'active',
      'active.activity',
      'active.activity.live',
      'active.activity.idle',
      'active.heartbeat',
      'active.heartbeat.beating',
      'draining',
      'disposed',
    ]);
    expect(graph.nodes.find((node) => node.id === 'active')?.type).toBe('parallel');
    expect(graph.nodes.find((node) => node.id === 'disposed')?.type).toBe('final');
    // The machine's own entry action: the transport is bound when the connection starts.
    expect(graph.entry).toEqual(['bindTransport']);
    expect(graph.exit).toBeUndefined();
    expect(graph.delays.map((delay) => delay.name)).toEqual([
      'connectTimeout',
      'drainTimeout',
      'heartbeatInterval',
      'idleTimeout',
    ]);
    expect(graph.edges).toContainEqual(
      expect.objectContaining({
        source: 'connecting',
        target: 'disposed',
        kind: 'delay',
        delay: 'connectTimeout',
      }),
    );
    expect(graph.edges).toContainEqual(
      expect.objectContaining({
        source: 'active.heartbeat.beating',
        target: 'disposed',
        kind: 'delay',
        delay: 'heartbeatInterval',
        guard: 'pongMissed',
      }),
    );
    // The idle delay goes idle only when the transport was quiet long enough ...
    expect(graph.edges).toContainEqual(
      expect.objectContaining({
        source: 'active.activity.live',
        target: 'active.activity.idle',
        kind: 'delay',
        delay: 'idleTimeout',
        guard: 'isQuiet',
      }),
    );
    // ... and otherwise re-enters `live`, re-arming for the time left: a self-transition, not an internal one.
    expect(graph.edges).toContainEqual(
      expect.objectContaining({
        source: 'active.activity.live',
        target: 'active.activity.live',
        kind: 'delay',
        delay: 'idleTimeout',
        reenter: true,
      }),
    );
    // Messages are events only on the way out of idle; `live` has no event edge at all.
    expect(graph.edges.filter((edge) => edge.source === 'active.activity.live').map(pick)).toEqual([
      [
        'active.activity.live',
        'active.activity.idle',
        expect.stringMatching(/^xstate\.after\.idleTimeout\./),
      ],
      [
        'active.activity.live',
        'active.activity.live',
        expect.stringMatching(/^xstate\.after\.idleTimeout\./),
      ],
    ]);
    expect(graph.edges).toContainEqual(
      expect.objectContaining({
        source: 'active.activity.idle',
        target: 'active.activity.live',
        event: 'MESSAGE_RECEIVED',
      }),
    );
    expect(graph.edges).toContainEqual(
      expect.objectContaining({
        source: 'active',
        target: 'draining',
        event: 'CLOSE_FRAME_RECEIVED',
        kind: 'event',
      }),
    );
    expect(graph.edges.filter((edge) => edge.source === 'connecting').map(pick)).toContainEqual([
      'connecting',
      'active',
      'SOCKET_OPENED',
    ]);
    // Every atomic state has an arrow out, its own or an ancestor's (that each one reaches
    // `disposed` is proven on the machine itself by test/model-based/machine-graph.test.ts).
    const ancestors = (id: string): string[] => {
      const parent = graph.nodes.find((node) => node.id === id)?.parent ?? null;
      return parent === null ? [id] : [id, ...ancestors(parent)];
    };
    for (const node of graph.nodes.filter((n) => n.type === 'atomic')) {
      const leaves = graph.edges.filter((edge) => ancestors(node.id).includes(edge.source) && !edge.internal);
      expect(leaves.length, node.id).toBeGreaterThan(0);
    }
  });

  it('supervisor: internal transitions stay on their state, child ends are done/error edges', () => {
    const graph = machineGraph(charts.supervisor);
    expect(graph.machine).toBe('userSupervisor');
    const admit = graph.edges.filter((edge) => edge.event === 'ADMIT');
    expect(admit).toEqual([
      expect.objectContaining({
        source: 'supervising',
        target: 'supervising',
        internal: true,
        guard: 'hasRoomAfterEviction',
      }),
      expect.objectContaining({
        source: 'supervising',
        target: 'supervising',
        internal: true,
        guard: 'replacesOldest',
      }),
      expect.objectContaining({ source: 'supervising', target: 'supervising', internal: true }),
      expect.objectContaining({ source: 'lingering', target: 'supervising', kind: 'event' }),
      expect.objectContaining({ source: 'shuttingDown', target: 'shuttingDown', internal: true }),
    ]);
    expect(admit[2]).not.toHaveProperty('guard');
    expect(admit[3]).not.toHaveProperty('internal');
    expect(graph.edges).toContainEqual(
      expect.objectContaining({
        source: 'supervising',
        target: 'stopped',
        event: 'xstate.done.actor.*',
        kind: 'done',
        guard: 'isLastChildWithoutLinger',
      }),
    );
    expect(graph.edges).toContainEqual(
      expect.objectContaining({
        source: 'supervising',
        target: 'lingering',
        event: 'xstate.done.actor.*',
        kind: 'done',
        guard: 'isLastChildWithLinger',
      }),
    );
    expect(graph.edges).toContainEqual(
      expect.objectContaining({ target: 'stopped', event: 'xstate.error.actor.*', kind: 'error' }),
    );
    expect(graph.edges).toContainEqual(
      expect.objectContaining({
        source: 'lingering',
        target: 'stopped',
        kind: 'delay',
        delay: 'lingerTimeout',
      }),
    );
  });

  it('hub: no root transitions, the shutdown paths, the batches, and the deadline ending them in drained', () => {
    const graph = machineGraph(charts.hub);
    expect(graph.edges.filter((edge) => edge.source === '')).toEqual([]);
    expect(graph.edges.map(pick)).toEqual([
      ['running', 'shuttingDown.pacing', 'SHUTDOWN'],
      ['running', 'shuttingDown.draining', 'SHUTDOWN'],
      ['shuttingDown', 'stopped', 'ALL_USERS_ENDED'],
      ['shuttingDown', 'shuttingDown.drained', 'xstate.after.shutdownDeadline.hub.shuttingDown'],
      ['shuttingDown.pacing', 'shuttingDown.draining', 'xstate.after.batchInterval.hub.shuttingDown.pacing'],
      ['shuttingDown.pacing', 'shuttingDown.pacing', 'xstate.after.batchInterval.hub.shuttingDown.pacing'],
      ['shuttingDown.draining', 'shuttingDown.draining', 'TURN_PASSED'],
      ['shuttingDown.draining', 'shuttingDown.drained', 'EVERY_USER_TOLD'],
    ]);
    // Paced: a batch at once, then one per batchInterval; after the last, the rest in chunks.
    expect(graph.edges).toContainEqual(
      expect.objectContaining({
        source: 'shuttingDown.pacing',
        target: 'shuttingDown.draining',
        kind: 'delay',
        delay: 'batchInterval',
        guard: 'isLastBatch',
      }),
    );
    expect(graph.edges).toContainEqual(
      expect.objectContaining({
        source: 'shuttingDown',
        target: 'shuttingDown.drained',
        kind: 'delay',
        delay: 'shutdownDeadline',
        actions: ['terminateAll'],
      }),
    );
  });
});

describe('machineGraph on the client', () => {
  // `closing` ended by raising CLOSE, which the root took to `closed`: the chart drew its two ways
  // out as lines inside its box (no state left) and no arrow into `closed` from anywhere in it.
  it('client: `closing` has its arrows to `closed`, the server answered or not', () => {
    const graph = machineGraph(charts.client);
    expect(graph.edges.filter((edge) => edge.source === 'connection.closing')).toEqual([
      { source: 'connection.closing', target: 'closed', event: 'SOCKET_CLOSED', kind: 'event' },
      {
        source: 'connection.closing',
        target: 'closed',
        event: 'xstate.after.closeTimeout.client.connection.closing',
        kind: 'delay',
        delay: 'closeTimeout',
      },
    ]);
  });
});

describe('guards that take params', () => {
  // `{ type: 'isAtLeast', params: { count: 3 } }` read as `isAtLeast`: two transitions guarded by
  // the one guard with different params looked the same, and the rule (at least what?) was lost.
  it('shows fixed params after the name; params computed from the event stay the name alone', async () => {
    const { and, not, setup } = await import('xstate');
    const machine = setup({
      types: { events: {} as { type: 'GO'; n: number } },
      guards: {
        isAtLeast: (_, params: { count: number }) => params.count > 0,
        hasRole: (_, params: { role: string; strict: boolean }) => params.role !== '' && params.strict,
        isLive: (_, params: { n: number }) => params.n > 0,
        isBusy: () => false,
      },
    }).createMachine({
      id: 'params',
      initial: 'a',
      states: {
        a: {
          on: {
            GO: [
              { guard: { type: 'isAtLeast', params: { count: 3 } }, target: 'b' },
              {
                guard: and([{ type: 'hasRole', params: { role: 'admin', strict: true } }, not('isBusy')]),
                target: 'b',
              },
              { guard: { type: 'isLive', params: ({ event }) => ({ n: event.n }) }, target: 'b' },
            ],
          },
        },
        b: {},
      },
    });
    const guards = machineGraph(machine).edges.map((edge) => edge.guard);
    expect(guards).toEqual([
      'isAtLeast(count: 3)',
      'hasRole(role: "admin", strict: true) && !isBusy',
      'isLive',
    ]);
    const text = await renderChart(machine, { format: 'mermaid' });
    expect(text).toContain('a --> b : GO [isAtLeast(count#58; 3)]');
  });
});

describe('actions that take params', () => {
  // `{ type: 'closeSocket', params: { code: 4001 } }` read as `closeSocket`: a reviewer could not see
  // which close code a transition sends, and arrows did not name their actions at all.
  const machineWithParams = async () => {
    const { setup } = await import('xstate');
    return setup({
      types: { events: {} as { type: 'EVICT' } | { type: 'PING'; n: number } | { type: 'GO' } },
      actions: {
        closeSocket: (_, _params: { code: number; reason: string }) => {},
        recordEnd: (_, _params: { reason: string }) => {},
        ping: (_, _params: { n: number }) => {},
        open: (_, _params: { port: number }) => {},
        log: () => {},
      },
    }).createMachine({
      id: 'actionParams',
      initial: 'a',
      states: {
        a: {
          entry: { type: 'open', params: { port: 80 } },
          on: {
            EVICT: {
              target: 'b',
              actions: [
                { type: 'recordEnd', params: { reason: 'evicted' } },
                { type: 'closeSocket', params: { code: 4001, reason: 'evicted: idle' } },
              ],
            },
            PING: { actions: { type: 'ping', params: ({ event }) => ({ n: event.n }) } },
            GO: { target: 'b', actions: 'log' },
          },
        },
        b: {},
      },
    });
  };

  it('shows fixed params after the name, as a guard does; params computed from the event stay out', async () => {
    const graph = machineGraph(await machineWithParams());
    expect(graph.nodes[0]?.entry).toEqual(['open(port: 80)']);
    expect(graph.edges.map((edge) => edge.actions)).toEqual([
      ['recordEnd(reason: "evicted")', 'closeSocket(code: 4001, reason: "evicted: idle")'],
      ['ping'],
      ['log'],
    ]);
  });

  it('writes an arrow as `EVENT [guard] / actions` in every format, params included', async () => {
    const machine = await machineWithParams();
    const label = 'EVICT / recordEnd(reason: "evicted"), closeSocket(code: 4001, reason: "evicted: idle")';
    const dot = await renderChart(machine, { format: 'dot' });
    // EVICT and GO both go from a to b: one DOT edge, a line each.
    expect(dot).toContain(`label=${JSON.stringify(label).slice(0, -1)}\\lGO / log\\l"`);
    const svg = await renderChart(machine, { format: 'svg' });
    // Wider than a line may be, the SVG wraps it after the trigger, between actions, and an action
    // still too wide between its params, indented once more (svg.test.ts joins the lines back).
    expect(svg).toContain('>EVICT /</text>');
    expect(svg).toContain('>recordEnd(reason: &quot;evicted&quot;),</text>');
    const at = (text: string) => Number(new RegExp(`x="([\\d.]+)"[^>]*>${text}</text>`).exec(svg)?.[1]);
    expect(at('closeSocket\\(code: 4001,')).toBeGreaterThan(0);
    expect(at('closeSocket\\(code: 4001,')).toBe(at('recordEnd\\(reason: &quot;evicted&quot;\\),'));
    expect(at('reason: &quot;evicted: idle&quot;\\)')).toBe(at('closeSocket\\(code: 4001,') + LABEL_INDENT);
    expect(svg).toContain('>entry / open(port: 80)</text>');
    expect(svg).toContain('>PING / ping</text>');
    const mermaid = await renderChart(machine, { format: 'mermaid' });
    expect(mermaid).toContain(
      'a --> b : EVICT / recordEnd(reason#58; #quot;evicted#quot;), closeSocket(code#58; 4001',
    );
    expect(mermaid).toContain('a : entry / open(port#58; 80)');
  });

  it('names the close code each of our connection transitions sends', async () => {
    const mermaid = await renderChart(charts.connection, { format: 'mermaid' });
    expect(mermaid).toContain('closeSocket(code#58; 4008, reason#58; #quot;slow consumer#quot;)');
    expect(mermaid).toContain('closeSocket(code#58; 1011, reason#58; #quot;internal error#quot;)');
  });
});

describe('bad input', () => {
  it.each([
    ['an empty object', {}],
    ['null', null],
    ['a string', 'connection'],
    ['a machine-like object without state nodes', { id: 'x', root: { states: {} } }],
  ])('machineGraph refuses %s with WSSUP_INVALID_ARGUMENT', (_label, value) => {
    const call = () => machineGraph(value as unknown as AnyStateMachine);
    expect(call).toThrow(SupervisorError);
    expect(call).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
  });

  it('renderChart refuses an unknown format and a non-machine with WSSUP_INVALID_ARGUMENT', async () => {
    await expect(renderChart(charts.hub, { format: 'png' as 'svg' })).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringMatching(/Unknown chart format "png"/),
    });
    await expect(renderChart({} as AnyStateMachine)).rejects.toBeInstanceOf(SupervisorError);
  });

  // The lists are exported as API, and renderChart() and the CLI read them: a caller's write
  // (a JS app's `chartFormats.push('png')`) must not teach renderChart a format it cannot draw.
  it('a caller cannot add a format or swap a machine in the exported lists', async () => {
    expect(() => (chartFormats as unknown as string[]).push('png')).toThrow(TypeError);
    expect(() => {
      (charts as Record<string, unknown>).hub = charts.connection;
    }).toThrow(TypeError);
    await expect(renderChart(charts.hub, { format: 'png' as 'svg' })).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
    });
    expect(charts.hub.id).toBe('hub');
  });

  // As every other options argument: a typo or a null must not fall back to Mermaid, and a
  // null options argument rejected with a bare TypeError.
  it.each<[string, unknown]>([
    ['null options', null],
    ['a string for options', 'svg'],
    ['a null format', { format: null }],
    ['a misspelt option', { fromat: 'svg' }],
  ])('renderChart refuses %s with WSSUP_INVALID_ARGUMENT', async (_label, options) => {
    await expect(renderChart(charts.hub, options as RenderChartOptions)).rejects.toMatchObject({
      name: 'SupervisorError',
      code: 'WSSUP_INVALID_ARGUMENT',
    });
  });
});
