/**
 * What sets each delay: a delay's name (`heartbeatInterval`) is not the option a user sets
 * (`heartbeatIntervalMs`), so each chart page says which. The list is kept by hand
 * (src/chart/delays.ts): these tests fail when a machine gains a delay without an entry,
 * or loses one that still has an entry.
 */
import { describe, expect, it } from 'vitest';
import { delaySettings } from '../../src/chart/delays.js';
import { type ChartName, charts, machineGraph, renderChart } from '../../src/chart/index.js';
import { toMarkdown } from '../../src/chart/markdown.js';

const names = Object.keys(charts) as ChartName[];
const definedDelays = (name: ChartName) =>
  Object.keys((charts[name].implementations?.delays ?? {}) as Record<string, unknown>).sort();

describe('what sets each delay', () => {
  it.for(names)('every delay of the %s machine has an entry, and nothing else does', (name) => {
    expect(Object.keys(delaySettings[name]).sort()).toEqual(definedDelays(name));
  });

  it.for(names)('the %s page lists each delay with what sets it', (name) => {
    const page = toMarkdown(name, machineGraph(charts[name]));
    for (const delay of machineGraph(charts[name]).delays) {
      expect(page).toContain(`\n  - \`${delay.name}\`: ${delaySettings[name][delay.name]}\n`);
    }
  });

  it('names the option behind a delay whose name is not the option', () => {
    const page = toMarkdown('connection', machineGraph(charts.connection));
    expect(page).toMatch(/- `heartbeatInterval`: `heartbeatIntervalMs`/);
    expect(toMarkdown('refusal', machineGraph(charts.refusal))).toMatch(
      /- `refusalTimeout`: `closeRefusalTimeoutMs`/,
    );
  });

  it("the JSON carries it as each delay's `setBy`, on our machines only", async () => {
    const graph = JSON.parse(await renderChart(charts.connection, { format: 'json' }));
    expect(graph.delays).toContainEqual({
      name: 'heartbeatInterval',
      setBy: '`heartbeatIntervalMs`: a ping has until the next heartbeat to be answered',
    });
    // A machine of the app's own (here a copy with other implementations) has no entry: nothing is guessed.
    const copy = charts.connection.provide({ actions: { notifyIdle() {} } });
    expect(machineGraph(copy).delays.every((delay) => delay.setBy === undefined)).toBe(true);
  });
});
