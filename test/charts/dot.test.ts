/** Graphviz DOT output: clusters for compound states, edges clipped to them, markers. */
import { describe, expect, it } from 'vitest';
import { charts, machineGraph, renderChart } from '../../src/chart/index.js';
import { sampleMachine } from './sample.machine.js';

describe('DOT', () => {
  it('connection: a cluster per compound state, nested, with edges clipped to the cluster border', async () => {
    const text = await renderChart(charts.connection, { format: 'dot' });
    expect(text).toMatch(/^\/\/ connection: generated .*\ndigraph "connection" \{\n/);
    expect(text).toContain('compound=true');
    // Braces balance, and the regions sit inside `active`.
    expect(text.split('{').length).toBe(text.split('}').length);
    const active = text.indexOf('subgraph "cluster_active" {');
    const activity = text.indexOf('subgraph "cluster_active.activity" {');
    const heartbeat = text.indexOf('subgraph "cluster_active.heartbeat" {');
    expect(active).toBeGreaterThan(0);
    expect(activity).toBeGreaterThan(active);
    expect(heartbeat).toBeGreaterThan(activity);
    expect(text).toContain('style="rounded,dashed"');

    expect(text).toContain(
      '"connecting" -> "active" [label="SOCKET_OPENED / runOpenHook", lhead="cluster_active"];',
    );
    expect(text).toContain(
      '"active" -> "draining" [label="EVICT / recordEnd(reason: \\"evicted\\", closeCode: 4001), closeSocket", ' +
        'ltail="cluster_active"];',
    );
    expect(text).toContain(
      '"connecting" -> "disposed" [label="after connectTimeout / abortHandshake, recordEnd(reason: \\"connect-timeout\\")"];',
    );
    expect(text).toContain(
      '"active.heartbeat.awaitingPong" -> "disposed" [label="after pongTimeout / terminateSocket, recordEnd(reason: \\"dead-peer\\")"];',
    );
    expect(text).toContain('"disposed" [label="disposed", peripheries=2];');
    expect(text).toContain('"[*]" -> "connecting";');
    expect(text).toContain('"[*]active.activity" -> "active.activity.live";');
  });

  // The dashboard feed's root is parallel: its regions are dashed clusters, as a parallel state's.
  it("draws a parallel root's regions as dashed clusters", async () => {
    const text = await renderChart(charts.dashboard, { format: 'dot' });
    expect(text).toContain('subgraph "cluster_poll" {\n    label="poll"; style="rounded,dashed";');
    expect(text).toContain('subgraph "cluster_burst" {\n    label="burst"; style="rounded,dashed";');
    expect(text).not.toContain('"[*]" ->'); // no initial state at the top: both regions are entered
    expect(await renderChart(charts.hub, { format: 'dot' })).not.toContain('dashed');
  });

  it('writes every state and every drawn edge, and lists internal transitions in the box', async () => {
    for (const machine of [charts.connection, charts.supervisor, charts.hub, sampleMachine]) {
      const graph = machineGraph(machine);
      const text = await renderChart(machine, { format: 'dot' });
      for (const node of graph.nodes) expect(text).toContain(`"${node.id}" [`);
      const drawn = graph.edges.filter((edge) => edge.source !== '' && !edge.internal);
      expect(text.match(/^ {2}"[^"]*" -> "[^"]*" \[label=/gm)?.length ?? 0).toBe(drawn.length);
    }
    const supervisor = await renderChart(charts.supervisor, { format: 'dot' });
    expect(supervisor).toContain(
      '"shuttingDown" [label="shuttingDown\\nADMIT / adoptLimit, refuse(reason: \\"shutting-down\\")\\lTERMINATE / terminateAll\\l' +
        'xstate.done.actor.* / forgetChild(ends: false)\\lxstate.error.actor.* / forgetChild(ends: false)\\l"];',
    );
    const hub = await renderChart(charts.hub, { format: 'dot' });
    expect(hub).toContain(
      'subgraph "cluster_shuttingDown" {\n    label="shuttingDown\\nafter shutdownDeadline / terminateAll\\l";',
    );
    expect(hub).not.toContain('[any]'); // no root transitions
    const sample = await renderChart(sampleMachine, { format: 'dot' });
    expect(sample).toContain('"[any]" [shape=note, label="in any state\\lRESET → idle\\lTICK / log\\l"];');
    const connection = await renderChart(charts.connection, { format: 'dot' });
    expect(connection).toContain(
      '"active.activity.live" [label="live\\nentry / deliverDirectly\\lexit / deliverViaMachine\\l"];',
    );
    // The machine's own entry action, in the root's note.
    expect(connection).toContain(
      '"[any]" [shape=note, label="connection (the machine)\\lentry / bindTransport\\l"];',
    );
  });

  it('escapes quotes and backslashes in labels', async () => {
    const { setup } = await import('xstate');
    const machine = setup({}).createMachine({
      id: 'quotes',
      initial: 'a',
      states: { a: { on: { 'SAY_"HI"\\': 'b' } }, b: {} },
    });
    const text = await renderChart(machine, { format: 'dot' });
    expect(text).toContain('"a" -> "b" [label="SAY_\\"HI\\"\\\\"];');
  });

  it('keeps a line break in a machine id inside its comment and its quoted name', async () => {
    const { setup } = await import('xstate');
    const machine = setup({}).createMachine({ id: 'x\ndigraph y', initial: 'a', states: { a: {} } });
    const lines = (await renderChart(machine, { format: 'dot' })).split('\n');
    expect(lines[0]).toBe(
      '// x digraph y: generated from the machine definition by ws-supervisor; do not edit.',
    );
    // In a quoted string a line break is written `\n`, which a label shows as one.
    expect(lines[1]).toBe('digraph "x\\ndigraph y" {');
  });
});
