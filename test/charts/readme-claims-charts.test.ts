/**
 * README, "State charts": the commands as the README writes them, run on the
 * built program, and the claims about machineGraph()'s JSON that no other
 * test of test/charts/ checked on our own machines.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { charts, machineGraph, renderChart } from '../../src/chart/index.js';
import { toMarkdown } from '../../src/chart/markdown.js';
import { readPage } from '../helpers/docs.js';
import { chartNames, run, temporaryDirectory } from './cli-fixture.js';

const machines = chartNames;

// Built programs run as processes (SVG layout included): a hang guard above the default 20 s,
// which a 2-core machine loaded by other work exceeded.
describe('the commands of the README', { timeout: 60_000 }, () => {
  it('`chart --machine hub --format svg --out hub.svg` writes the hub as SVG', async () => {
    const file = join(temporaryDirectory(), 'hub.svg');
    const { code } = await run(['chart', '--machine', 'hub', '--format', 'svg', '--out', file]);
    expect(code).toBe(0);
    const svg = readFileSync(file, 'utf8');
    expect(svg).toBe(await renderChart(charts.hub, { format: 'svg' }));
    expect(svg).toContain('data-state="shuttingDown"');
  });

  it('`chart --machine all --format json --out charts/` writes one file per machine into a new directory', async () => {
    const directory = join(temporaryDirectory(), 'charts');
    const { code } = await run(['chart', '--machine', 'all', '--format', 'json', '--out', `${directory}/`]);
    expect(code).toBe(0);
    expect(readdirSync(directory).sort()).toEqual(machines.map((name) => `${name}.json`).sort());
    for (const name of machines) {
      const graph = JSON.parse(readFileSync(join(directory, `${name}.json`), 'utf8'));
      expect(graph).toEqual(machineGraph(charts[name]));
      expect(graph).toMatchObject({ format: 'ws-supervisor-chart', version: 1 });
    }
  });

  it('every --machine of the list prints, and --format markdown prints the page of docs/machines (without the picture link)', async () => {
    // One process per machine, side by side.
    const printed = await Promise.all(
      machines.map((name) => run(['chart', '--machine', name, '--format', 'markdown'])),
    );
    machines.forEach((name, i) => {
      const { code, stdout } = printed[i] as Awaited<ReturnType<typeof run>>;
      expect(code, name).toBe(0);
      expect(stdout, name).toBe(toMarkdown(name, machineGraph(charts[name])));
      // The committed page is the same, but for the link to its SVG, written beside it.
      expect(readFileSync(join('docs/machines', `${name}.md`), 'utf8'), name).toBe(
        toMarkdown(name, machineGraph(charts[name]), { picture: true }),
      );
    });
  });
});

describe('machineGraph() of our machines', () => {
  it('the supervisor: nodes (the first `supervising`), edges, events, guards and delays, as the snippet says', () => {
    const graph = machineGraph(charts.supervisor);
    expect(graph).toMatchObject({ format: 'ws-supervisor-chart', version: 1 });
    expect(graph.nodes[0]?.id).toBe('supervising');
    for (const key of ['nodes', 'edges', 'events', 'guards', 'delays'] as const)
      expect(Array.isArray(graph[key]), key).toBe(true);
  });

  it("the done and error of the lease's id-less invokes carry their src as `invoke`", () => {
    const graph = machineGraph(charts.lease);
    // Not a state's own onDone (`reconciling`, its regions all final): no invoke's.
    const invoked = graph.edges.filter(
      (edge) =>
        (edge.kind === 'done' || edge.kind === 'error') && !edge.event.startsWith('xstate.done.state.'),
    );
    expect(invoked.length).toBeGreaterThan(0);
    for (const edge of invoked) expect(edge.invoke, JSON.stringify(edge)).toEqual(expect.any(String));
    expect(invoked.map((edge) => edge.invoke)).toEqual(
      expect.arrayContaining(['startStore', 'renewLease', 'reapDeadSlots', 'reconcile']),
    );
  });

  it('the connection: `live` lists entry deliverDirectly and exit deliverViaMachine; connectTimeout is a delay by name', () => {
    const graph = machineGraph(charts.connection);
    const live = graph.nodes.find((node) => node.id.endsWith('.live'));
    expect(live).toMatchObject({ entry: ['deliverDirectly'], exit: ['deliverViaMachine'] });
    expect(graph.edges).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: 'delay', delay: 'connectTimeout' })]),
    );
  });

  it('the connection chart shows exactly the close codes the README lists: none that comes with an event', () => {
    const readme = readPage('docs/internals.md').replace(/\s+/g, ' ');
    const claim =
      /the connection chart shows the close codes that the machine itself fixes, and only those: (.*?)\. What comes with an event/.exec(
        readme,
      )?.[1];
    expect(claim).toBeDefined();
    const listed = [...(claim ?? '').matchAll(/\b(\d{4})\b/g)].map((match) => Number(match[1]));
    const edges = machineGraph(charts.connection).edges;
    const shown = edges.flatMap((edge) =>
      (edge.actions ?? []).flatMap((action) => [...action.matchAll(/\b(?:closeCode|code): (\d+)/g)]),
    );
    expect(new Set(listed)).toEqual(new Set(shown.map((match) => Number(match[1]))));
    // DRAIN's code is the event's (1001 for shutdown, the app's own): its arrows name none.
    for (const edge of edges.filter((candidate) => candidate.event === 'DRAIN'))
      expect(edge.actions?.join(', '), edge.source).not.toMatch(/\d{4}/);
  });
});
