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
    const activeToDraining = text.split('\n').find((line) => line.startsWith('  "active" -> "draining" ['));
    expect(activeToDraining).toContain(
      '\\lEVICT / recordEnd(reason: \\"evicted\\", closeCode: 4001), closeSocket\\l',
    );
    expect(activeToDraining).toMatch(/", ltail="cluster_active"\];$/);
    expect(text).toContain(
      '"connecting" -> "disposed" [label="after connectTimeout / abortHandshake, recordEnd(reason: \\"connect-timeout\\")", ' +
        'style=dashed, color="#b45309", fontcolor="#b45309"];',
    );
    expect(text).toContain(
      '"active.heartbeat.beating" -> "disposed" [label="after heartbeatInterval [pongMissed] / terminateSocket, recordEnd(reason: \\"dead-peer\\")", ' +
        'style=dashed, color="#b45309", fontcolor="#b45309"];',
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
    expect(await renderChart(charts.hub, { format: 'dot' })).not.toContain('rounded,dashed');
  });

  it('writes every state and every drawn edge, and lists internal transitions in the box', async () => {
    for (const machine of [charts.connection, charts.supervisor, charts.hub, sampleMachine]) {
      const graph = machineGraph(machine);
      const text = await renderChart(machine, { format: 'dot' });
      for (const node of graph.nodes) expect(text).toContain(`"${node.id}" [`);
      // One edge per source, target and style (a delay's own), as the SVG draws them.
      const drawn = graph.edges.filter((edge) => edge.source !== '' && !edge.internal);
      const pairs = new Set(
        drawn.map((edge) => JSON.stringify([edge.source, edge.target, edge.kind === 'delay'])),
      );
      expect(text.match(/^ {2}"[^"]*" -> "[^"]*" \[label=/gm)?.length ?? 0).toBe(pairs.size);
    }
    const supervisor = await renderChart(charts.supervisor, { format: 'dot' });
    expect(supervisor).toContain(
      '"shuttingDown" [label="shuttingDown\\nADMIT / adoptLimit, refuse(reason: \\"shutting-down\\")\\lTERMINATE / terminateAll\\l' +
        'xstate.done.actor.* [else] / forgetChild(ends: false)\\lxstate.error.actor.* [else] / forgetChild(ends: false)\\l"];',
    );
    const hub = await renderChart(charts.hub, { format: 'dot' });
    expect(hub).toContain('subgraph "cluster_shuttingDown" {\n    label="shuttingDown"; style="rounded";');
    expect(hub).toContain(
      '"shuttingDown" -> "shuttingDown.drained" [label="after shutdownDeadline / terminateAll", style=dashed',
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

  // A charts user trial: `connecting → disposed` was six edges, one per event, side by side.
  it('merges the transitions between two states into one edge, a line each; a delay is its own dashed edge', async () => {
    const text = await renderChart(charts.connection, { format: 'dot' });
    const edges = text.split('\n').filter((line) => line.startsWith('  "connecting" -> "disposed" '));
    expect(edges).toEqual([
      '  "connecting" -> "disposed" [label="SOCKET_CLOSED / recordEnd\\lSOCKET_ERRORED / abortHandshake, recordEnd(reason: \\"error\\")\\l' +
        'EVICT / abortHandshake, recordEnd(reason: \\"evicted\\")\\lDRAIN / abortHandshake, recordEnd\\l' +
        'TERMINATE / abortHandshake, recordEnd(reason: \\"shutdown\\")\\l"];',
      '  "connecting" -> "disposed" [label="after connectTimeout / abortHandshake, recordEnd(reason: \\"connect-timeout\\")", ' +
        'style=dashed, color="#b45309", fontcolor="#b45309"];',
    ]);
    for (const name of Object.keys(charts) as (keyof typeof charts)[]) {
      const text = await renderChart(charts[name], { format: 'dot' });
      // No two edges share a source, a target and a style.
      const keys = text
        .split('\n')
        .filter((line) => / -> .*\[label=/.test(line))
        .map(
          (line) =>
            `${line.slice(0, line.indexOf(' [label='))}${line.includes('style=dashed') ? ' dashed' : ''}`,
        );
      expect(new Set(keys).size, name).toBe(keys.length);
      // The same text at every run: it diffs cleanly.
      expect(await renderChart(charts[name], { format: 'dot' }), name).toBe(text);
    }
  });

  // Graphviz ignores an lhead whose cluster holds the tail, or an ltail whose cluster holds the
  // head ("head is inside tail cluster"), and warns: the lease's INCARNATION_CHANGED
  // (`renewal → reconciling`) and its keep-alive's way back to `reconciling` had them.
  it('clips an edge to a cluster only when its other end is outside the cluster', async () => {
    const lease = await renderChart(charts.lease, { format: 'dot' });
    expect(lease).toContain(
      '"holding.renewal" -> "holding.renewal.reconciling" [label="INCARNATION_CHANGED / leaseLost", lhead="cluster_holding.renewal.reconciling"];',
    );
    expect(lease).toContain(
      '"holding.renewal.reconciling.keepAlive.renewing" -> "holding.renewal.reconciling" [label="onDone (renewLease) [isLost] / leaseLost"];',
    );
    for (const name of Object.keys(charts) as (keyof typeof charts)[]) {
      const graph = machineGraph(charts[name]);
      const parent = new Map(graph.nodes.map((node) => [node.id, node.parent]));
      const inside = (id: string, ancestor: string) => {
        for (let at: string | null | undefined = id; at != null; at = parent.get(at))
          if (at === ancestor) return true;
        return false;
      };
      const text = await renderChart(charts[name], { format: 'dot' });
      for (const match of text.matchAll(/^ *"([^"]*)" -> "([^"]*)" \[(.*)\];$/gm)) {
        const [line, tail, head, attributes] = match as unknown as [string, string, string, string];
        const lhead = attributes.match(/lhead="cluster_([^"]*)"/)?.[1];
        const ltail = attributes.match(/ltail="cluster_([^"]*)"/)?.[1];
        // A cluster's anchor node is the state's own id, inside its cluster.
        if (lhead !== undefined) expect(inside(tail, lhead), `${name}: ${line}`).toBe(false);
        if (ltail !== undefined) expect(inside(head, ltail), `${name}: ${line}`).toBe(false);
      }
    }
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
