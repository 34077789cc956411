/**
 * SVG output, read back with a small XML reader: the hooks a dashboard relies
 * on (`g.state[data-state]` with a `text.state-label`), the nesting of states,
 * the geometry (children inside parents, siblings apart, arrows that touch
 * their states), and determinism.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type AnyStateMachine, setup } from 'xstate';
import { charts, machineGraph, renderChart } from '../../src/chart/index.js';
import { arrows, compartment } from '../../src/chart/labels.js';
import { textWidth } from '../../src/chart/text-width.js';
import { sampleMachine } from './sample.machine.js';

interface Element {
  name: string;
  attributes: Record<string, string>;
  children: Element[];
  text: string;
  parent: Element | undefined;
}

/** A strict enough reader for our own output: every tag must close, attributes must be quoted. */
function readSvg(source: string): Element {
  const root: Element = { name: '#document', attributes: {}, children: [], text: '', parent: undefined };
  let current = root;
  const tag = /<(\/?)([A-Za-z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/g;
  let index = 0;
  for (const match of source.matchAll(tag)) {
    expect(match.index, `unreadable markup near: ${source.slice(index, index + 80)}`).toBe(index);
    index = match.index + match[0].length;
    const [, closing, name, attributeText, selfClosing, text] = match;
    if (text !== undefined) {
      current.text += text;
      continue;
    }
    if (closing) {
      expect(current.name, `</${name}> closes <${current.name}>`).toBe(name);
      current = current.parent as Element;
      continue;
    }
    const attributes: Record<string, string> = {};
    for (const [, key, value] of (attributeText ?? '').matchAll(/([\w:-]+)="([^"]*)"/g)) {
      attributes[key as string] = value as string;
    }
    const element: Element = { name: name as string, attributes, children: [], text: '', parent: current };
    current.children.push(element);
    if (!selfClosing) current = element;
  }
  expect(index).toBe(source.length);
  expect(current, 'unclosed element').toBe(root);
  return root;
}

function all(element: Element, test: (e: Element) => boolean): Element[] {
  return element.children.flatMap((child) => [...(test(child) ? [child] : []), ...all(child, test)]);
}

/** A label as our SVG writes it between tags. */
const xmlText = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const classes = (element: Element) => (element.attributes.class ?? '').split(' ');
/** The states that hold others (compound or parallel) in a rendered chart. */
const compositeStates = (svg: Element) =>
  all(
    svg,
    (e) =>
      classes(e).includes('state') && (classes(e).includes('compound') || classes(e).includes('parallel')),
  );
const num = (element: Element, name: string) => Number(element.attributes[name]);
const boxOf = (group: Element) => {
  const rect = group.children.find((child) => child.name === 'rect') as Element;
  return { x: num(rect, 'x'), y: num(rect, 'y'), width: num(rect, 'width'), height: num(rect, 'height') };
};
type Box = ReturnType<typeof boxOf>;

const inside = (inner: Box, outer: Box) =>
  inner.x >= outer.x &&
  inner.y >= outer.y &&
  inner.x + inner.width <= outer.x + outer.width &&
  inner.y + inner.height <= outer.y + outer.height;
const apart = (a: Box, b: Box) =>
  a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
/** Distance from a point to a box's border (0 on the border). */
const toBorder = (p: { x: number; y: number }, box: Box) => {
  const dx = Math.max(box.x - p.x, 0, p.x - (box.x + box.width));
  const dy = Math.max(box.y - p.y, 0, p.y - (box.y + box.height));
  if (dx > 0 || dy > 0) return Math.hypot(dx, dy);
  return Math.min(p.x - box.x, box.x + box.width - p.x, p.y - box.y, box.y + box.height - p.y);
};

const machines: [string, AnyStateMachine][] = [
  ['connection', charts.connection],
  ['supervisor', charts.supervisor],
  ['hub', charts.hub],
  ['refusal', charts.refusal],
  ['sample', sampleMachine],
];

describe.each(machines)('SVG of %s', (_name, machine) => {
  it('gives every state one <g class="state" data-state> with its label, nested like the states', async () => {
    const graph = machineGraph(machine);
    const svg = readSvg(await renderChart(machine, { format: 'svg' }));
    const [root] = svg.children;
    expect(root?.name).toBe('svg');
    expect(root?.attributes).toMatchObject({
      xmlns: 'http://www.w3.org/2000/svg',
      'font-family': 'sans-serif',
    });
    expect(root?.attributes.viewBox).toBe(`0 0 ${root?.attributes.width} ${root?.attributes.height}`);

    const groups = all(svg, (e) => e.name === 'g' && classes(e).includes('state'));
    expect(groups.map((g) => g.attributes['data-state']).sort()).toEqual(graph.nodes.map((n) => n.id).sort());
    for (const node of graph.nodes) {
      const group = groups.find((g) => g.attributes['data-state'] === node.id) as Element;
      expect(classes(group)).toContain(node.type);
      const label = group.children.find(
        (child) => child.name === 'text' && classes(child).includes('state-label'),
      );
      expect(label?.text, node.id).toBe(node.key);
      let ancestor = group.parent;
      while (ancestor !== undefined && !(ancestor.name === 'g' && classes(ancestor).includes('state'))) {
        ancestor = ancestor.parent;
      }
      expect(ancestor?.attributes['data-state'] ?? null, `parent of ${node.id}`).toBe(node.parent);
      if (node.type === 'final') {
        expect(group.children.filter((child) => child.name === 'rect').length, 'double border').toBe(2);
      }
    }
  });

  it('places children inside their parent and keeps siblings apart', async () => {
    const graph = machineGraph(machine);
    const svg = readSvg(await renderChart(machine, { format: 'svg' }));
    const root = svg.children[0] as Element;
    const canvas = { x: 0, y: 0, width: num(root, 'width'), height: num(root, 'height') };
    const box = (id: string) =>
      boxOf(all(svg, (e) => e.name === 'g' && e.attributes['data-state'] === id)[0] as Element);
    for (const node of graph.nodes) {
      expect(inside(box(node.id), node.parent === null ? canvas : box(node.parent)), node.id).toBe(true);
      for (const sibling of graph.nodes.filter((n) => n.parent === node.parent && n.id < node.id)) {
        expect(apart(box(node.id), box(sibling.id)), `${node.id} / ${sibling.id}`).toBe(true);
      }
    }
  });

  it('draws one arrow per arrow of the graph, from its source border to its target border, labelled', async () => {
    const graph = machineGraph(machine);
    const text = await renderChart(machine, { format: 'svg' });
    const svg = readSvg(text);
    const markers = all(svg, (e) => e.name === 'marker').map((e) => e.attributes.id);
    const marker = `ws-supervisor-arrow-${graph.machine}`;
    expect(markers).toEqual([marker, `${marker}-delay`]);
    expect(all(svg, (e) => e.attributes.id !== undefined).length, 'only the markers have ids').toBe(2);
    const edges = all(svg, (e) => e.name === 'g' && classes(e).includes('edge'));
    const expected = arrows(graph);
    expect(edges.length).toBe(expected.length);
    const box = (id: string) =>
      boxOf(all(svg, (e) => e.name === 'g' && e.attributes['data-state'] === id)[0] as Element);
    edges.forEach((edge, index) => {
      const arrow = expected[index];
      expect(edge.attributes['data-source']).toBe(arrow?.source);
      expect(edge.attributes['data-target']).toBe(arrow?.target);
      const path = edge.children.find((child) => child.name === 'path') as Element;
      expect(path.attributes['marker-end']).toBe(`url(#${arrow?.delay ? `${marker}-delay` : marker})`);
      const points = [...(path.attributes.d ?? '').matchAll(/[ML] (-?[\d.]+) (-?[\d.]+)/g)].map((m) => ({
        x: Number(m[1]),
        y: Number(m[2]),
      }));
      expect(points.length).toBeGreaterThanOrEqual(2);
      const first = points[0] as { x: number; y: number };
      const last = points.at(-1) as { x: number; y: number };
      expect(toBorder(first, box(arrow?.source as string)), `start of ${arrow?.labels}`).toBeLessThan(2);
      expect(toBorder(last, box(arrow?.target as string)), `end of ${arrow?.labels}`).toBeLessThan(2);
      // A long label wraps: its `continued` lines, joined to the line above with a space, are the label.
      const labels: string[] = [];
      for (const line of edge.children.filter((child) => classes(child).includes('edge-label'))) {
        if (classes(line).includes('continued')) labels.push(`${labels.pop()} ${line.text}`);
        else labels.push(line.text);
      }
      expect(labels).toEqual(arrow?.labels.map((label) => xmlText(label)));
    });
    expect(text).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('is the same string every time', async () => {
    const [a, b] = await Promise.all([
      renderChart(machine, { format: 'svg' }),
      renderChart(machine, { format: 'svg' }),
    ]);
    expect(a).toBe(b);
  });
});

describe('SVG specifics', () => {
  it('stays well-formed XML whatever the names hold: control characters, line breaks, markup', async () => {
    const { setup } = await import('xstate');
    const machine = setup({
      delays: { 'wait\u0001': 10 },
      actions: { 'say "<b>" & go': () => {} },
    }).createMachine({
      id: 'odd',
      initial: 'a',
      states: {
        a: { after: { 'wait\u0001': 'b\nc' }, on: { 'BELL\u0007': { actions: 'say "<b>" & go' } } },
        'b\nc': {},
      },
    });
    const text = await renderChart(machine, { format: 'svg' });
    // XML 1.0's Char production: a control character (other than tab, LF, CR) makes the document unreadable.
    expect(text).not.toMatch(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u);
    expect(text).toContain('after wait\uFFFD (10 ms)');
    expect(text).toContain('BELL\uFFFD / say &quot;&lt;b&gt;&quot; &amp; go');
    // An attribute keeps its line break as a reference (a raw one is read as a space), so a
    // page finds the state by its id.
    expect(text).toContain('data-state="b&#10;c"');
    readSvg(text);
  });

  // client.svg's arrows out of `connection` have their labels side by side in one layer, and
  // `SOCKET_CLOSED [needsTheApp] /` and its like were its widest lines: with `closing`'s two
  // arrows to `closed` it was 1,469px wide. A long trigger breaks before its guard.
  it('draws a legend below the chart: an event, a delay (dashed, orange) and a region when there is one', async () => {
    const legendOf = async (machine: AnyStateMachine) => {
      const svg = readSvg(await renderChart(machine, { format: 'svg' }));
      const root = all(svg, (e) => e.name === 'svg')[0] as Element;
      const [legend] = all(svg, (e) => e.name === 'g' && classes(e).includes('legend'));
      expect(legend).toBeDefined();
      const rows = all(legend as Element, (e) => e.name === 'text').map((e) => e.text.split(':')[0]);
      // Below every state: the lowest legend row's top is under the lowest box.
      const boxes = all(svg, (e) => e.name === 'g' && classes(e).includes('state')).map(
        (g) => g.children[0] as Element,
      );
      const bottom = Math.max(...boxes.map((e) => Number(e.attributes.y) + Number(e.attributes.height)));
      const tops = all(legend as Element, (e) => e.name === 'text').map((e) => Number(e.attributes.y) - 11);
      expect(Math.min(...tops)).toBeGreaterThanOrEqual(bottom);
      expect(Math.max(...tops) + 16).toBeLessThanOrEqual(Number(root.attributes.height));
      return rows;
    };
    const connection = await legendOf(charts.connection);
    expect(connection).toEqual(['event', 'delay', 'region']);
    // A delay's sample arrow is dashed in the delay colour, as the chart's delays are.
    const svg = readSvg(await renderChart(charts.connection, { format: 'svg' }));
    const [legend] = all(svg, (e) => e.name === 'g' && classes(e).includes('legend'));
    const delayArrow = all(legend as Element, (e) => e.name === 'path')[1] as Element;
    const delayEdge = all(svg, (e) => e.name === 'g' && classes(e).includes('delay'))[0] as Element;
    const delayPath = delayEdge.children.find((c) => c.name === 'path') as Element;
    expect(delayArrow.attributes.stroke).toBe(delayPath.attributes.stroke);
    expect(delayArrow.attributes['stroke-dasharray']).toBe(delayPath.attributes['stroke-dasharray']);
    // A machine without delays or parallel states gets the event row alone.
    const plain = setup({}).createMachine({
      id: 'plain',
      initial: 'a',
      states: { a: { on: { GO: 'b' } }, b: {} },
    });
    expect(await legendOf(plain)).toEqual(['event']);
  });

  it('wraps a long trigger before its guard, the guard indented on the next line', async () => {
    const machine = setup({
      guards: { needsTheApplicationToResume: () => true },
      actions: { recordClose: () => {} },
    }).createMachine({
      id: 'wrap',
      initial: 'open',
      states: {
        open: {
          on: {
            SOCKET_CLOSED: {
              guard: 'needsTheApplicationToResume',
              target: 'suspended',
              actions: 'recordClose',
            },
          },
        },
        suspended: {},
      },
    });
    const svg = readSvg(await renderChart(machine, { format: 'svg' }));
    const lines = all(svg, (e) => classes(e).includes('edge-label')).map((line) => [
      line.text,
      classes(line).includes('continued'),
    ]);
    expect(lines).toEqual([
      ['SOCKET_CLOSED', false],
      ['[needsTheApplicationToResume] /', true],
      ['recordClose', true],
    ]);
  });

  // DOT drew a history state as a circle; the SVG drew it as any state's box.
  it('marks a history state with a circled H, in its box, beside its name', async () => {
    const machine = setup({}).createMachine({
      id: 'history',
      initial: 'work',
      states: {
        work: {
          initial: 'step',
          states: { step: { on: { NEXT: 'done' } }, done: {}, resume: { type: 'history' } },
        },
        paused: { on: { RESUME: '#history.work.resume' } },
      },
    });
    const svg = readSvg(await renderChart(machine, { format: 'svg' }));
    const marks = all(svg, (e) => classes(e).includes('history-mark'));
    expect(marks).toHaveLength(1);
    const state = (marks[0] as Element).parent as Element;
    expect(state.attributes['data-state']).toBe('work.resume');
    expect(classes(state)).toContain('history');
    const circle = (marks[0] as Element).children.find((c) => c.name === 'circle') as Element;
    const letter = (marks[0] as Element).children.find((c) => c.name === 'text') as Element;
    expect(letter.text).toBe('H');
    const r = num(circle, 'r');
    const ring = { x: num(circle, 'cx') - r, y: num(circle, 'cy') - r, width: 2 * r, height: 2 * r };
    expect(inside(ring, boxOf(state))).toBe(true);
    const label = state.children.find((c) => classes(c).includes('state-label')) as Element;
    expect(label.text).toBe('resume');
    const width = textWidth('resume', 13);
    const name = { x: num(label, 'x') - width / 2, y: num(label, 'y') - 12, width, height: 15 };
    expect(apart(ring, name)).toBe(true);
    expect(ring.x + ring.width).toBeLessThanOrEqual(name.x);
    // No other state is marked.
    expect(all(svg, (e) => classes(e).includes('history'))).toHaveLength(1);
  });

  it('draws delays dashed, initial dots, and internal transitions inside the box', async () => {
    // An atomic state's lines are in its group; a composite's in its compartment, over the arrows.
    const internals = (svg: Element, state: string) =>
      all(svg, (e) => e.attributes['data-state'] === state || e.attributes['data-of'] === state)
        .flatMap((group) => group.children)
        .filter((c) => classes(c).includes('internal'))
        .map((t) => t.text);
    const supervisor = readSvg(await renderChart(charts.supervisor, { format: 'svg' }));
    expect(internals(supervisor, 'shuttingDown')).toEqual([
      'ADMIT / adoptLimit, refuse(reason: &quot;shutting-down&quot;)',
      'TERMINATE / terminateAll',
      // Taken when the child was not the last (`[isLastChild]`, drawn as an arrow to `stopped`).
      'xstate.done.actor.* [else] / forgetChild(ends: false)',
      'xstate.error.actor.* [else] / forgetChild(ends: false)',
    ]);
    const svg = readSvg(await renderChart(charts.hub, { format: 'svg' }));
    expect(internals(svg, 'running')).toEqual([]);
    expect(internals(svg, 'shuttingDown')).toEqual([]); // the deadline is an arrow to drained
    // The machine's and shuttingDown's (whose substates are pacing and drained).
    expect(all(svg, (e) => classes(e).includes('initial')).length).toBe(2);
    expect(all(svg, (e) => classes(e).includes('note'))).toEqual([]); // no root transitions
    const sample = readSvg(await renderChart(sampleMachine, { format: 'svg' }));
    const note = all(sample, (e) => classes(e).includes('note'))[0] as Element;
    expect(note.children.filter((c) => c.name === 'text').map((t) => t.text)).toEqual([
      'in any state',
      'RESET → idle',
      'TICK / log',
    ]);

    const connection = readSvg(await renderChart(charts.connection, { format: 'svg' }));
    // Which states deliver messages, and what entering and leaving them does.
    expect(internals(connection, 'active.activity.live')).toEqual([
      'entry / deliverDirectly',
      'exit / deliverViaMachine',
    ]);
    expect(internals(connection, 'draining')).toEqual(['entry / notifyDraining']);
    expect(internals(connection, 'connecting')).toEqual([]);
    expect(internals(sample, 'working.task.failed')).toEqual(['entry / log', 'exit / log, log']);
    const delays = all(connection, (e) => e.name === 'g' && classes(e).includes('delay'));
    expect(
      delays.map((g) => g.children.find((c) => c.name === 'path')?.attributes['stroke-dasharray']),
    ).toEqual(delays.map(() => '5 3'));
    // The machine, activity and heartbeat each start with an initial dot.
    expect(all(connection, (e) => classes(e).includes('initial')).length).toBe(3);
  });

  // connection.svg drew no `entry / bindTransport`: the machine root has no box, and only its
  // transitions were written in its note, so nothing said where the transport is bound.
  it("writes the machine's own entry and exit actions in its note, under the machine's name", async () => {
    const noteOf = (svg: Element) =>
      (all(svg, (e) => classes(e).includes('note'))[0]?.children ?? [])
        .filter((c) => c.name === 'text')
        .map((t) => [t.text, t.attributes['font-weight'] === '600']);
    const connection = readSvg(await renderChart(charts.connection, { format: 'svg' }));
    // Its heading is bold, a tenth wider than the same words set regular: the box holds it (the
    // words start 10px in), with a few px to spare.
    const box = all(connection, (e) => classes(e).includes('note'))[0] as Element;
    const frame = box.children.find((c) => c.name === 'rect') as Element;
    for (const [line, bold] of noteOf(connection) as [string, boolean][]) {
      expect(num(frame, 'width'), line).toBeGreaterThanOrEqual(
        10 + textWidth(line, 11) * (bold ? 1.1 : 1) + 4,
      );
    }
    expect(noteOf(connection)).toEqual([
      ['connection (the machine)', true],
      ['entry / bindTransport', false],
    ]);
    const { setup } = await import('xstate');
    const both = setup({ actions: { open: () => {}, close: () => {}, log: () => {} } }).createMachine({
      id: 'both',
      entry: 'open',
      exit: 'close',
      on: { PING: { actions: 'log' } },
      initial: 'a',
      states: { a: {} },
    });
    expect(noteOf(readSvg(await renderChart(both, { format: 'svg' })))).toEqual([
      ['both (the machine)', true],
      ['entry / open', false],
      ['exit / close', false],
      ['in any state', true],
      ['PING / log', false],
    ]);
  });

  // dashboard.svg: the feed's root is parallel, and its regions `poll` and `burst` were drawn as
  // two solid boxes, which read as two states of which neither is initial, not as both at once.
  it("dashes a parallel root's regions as it dashes a parallel state's, and no compound root's states", async () => {
    const dashes = async (machine: AnyStateMachine) => {
      const svg = readSvg(await renderChart(machine, { format: 'svg' }));
      const states = all(svg, (e) => e.name === 'g' && classes(e).includes('state'));
      return Object.fromEntries(
        states.map((g) => [
          g.attributes['data-state'],
          g.children.find((c) => c.name === 'rect')?.attributes['stroke-dasharray'] ?? null,
        ]),
      );
    };
    expect(await dashes(charts.dashboard)).toEqual({
      poll: '6 4',
      'poll.waiting': null,
      burst: '6 4',
      'burst.quiet': null,
      'burst.gathering': null,
    });
    const { setup } = await import('xstate');
    const regions = setup({}).createMachine({
      id: 'regions',
      type: 'parallel',
      states: { a: {}, b: { initial: 'b1', states: { b1: {} } } },
    });
    expect(await dashes(regions)).toEqual({ a: '6 4', b: '6 4', 'b.b1': null });
    expect(machineGraph(regions).parallel).toBe(true);
    // Told by the root's type, not guessed from the states: XState takes a root typed `atomic`
    // with states and no initial one, which is not parallel.
    const oddConfig = { id: 'odd', type: 'atomic', states: { a: {}, b: {} } } as const;
    const odd = setup({}).createMachine(oddConfig as unknown as { id: string }) as unknown as AnyStateMachine;
    expect(await dashes(odd)).toEqual({ a: null, b: null });
    expect(machineGraph(odd).parallel).toBeUndefined();
    // The connection's root is compound: only the regions inside `active` are dashed.
    const connection = await dashes(charts.connection);
    expect(Object.keys(connection).filter((id) => connection[id] !== null)).toEqual([
      'active.activity',
      'active.heartbeat',
    ]);
  });

  // hub.svg: the arrow from running into shuttingDown.pacing crosses shuttingDown's listed line
  // (`after shutdownDeadline / terminateAll`) on its way in, and was painted over the words.
  it("paints a composite state's listed lines above the arrows that cross them, on a backing", async () => {
    for (const [name, machine] of [...Object.entries(charts), ['sample', sampleMachine] as const]) {
      const svg = readSvg(await renderChart(machine as AnyStateMachine, { format: 'svg' }));
      const order = all(svg, () => true);
      const lastEdge = order.lastIndexOf(all(svg, (e) => classes(e).includes('edge')).at(-1) as Element);
      const containers = compositeStates(svg);
      for (const state of containers) {
        const id = state.attributes['data-state'] as string;
        const lines = all(
          svg,
          (e) => classes(e).includes('internal') && e.parent?.attributes['data-of'] === id,
        );
        expect(
          lines.map((line) => line.text),
          `${name}: ${id}'s lines`,
        ).toEqual(compartment(machineGraph(machine as AnyStateMachine), id));
        for (const line of lines) {
          expect(
            order.indexOf(line),
            `${name}: ${id}'s "${line.text}" is painted after the edges`,
          ).toBeGreaterThan(lastEdge);
          const backing = line.parent?.children.find((c) => c.name === 'rect') as Element;
          expect(backing, `${name}: ${id}'s lines have a backing`).toBeDefined();
          const y = num(line, 'y');
          expect(num(backing, 'y')).toBeLessThanOrEqual(y - 11);
          expect(num(backing, 'y') + num(backing, 'height')).toBeGreaterThanOrEqual(y + 3);
          // An arrow into a child ends below the backing, so its head is not hidden (7 px long).
          for (const child of state.children.filter((c) => classes(c).includes('state'))) {
            expect(boxOf(child).y, `${name}: ${child.attributes['data-state']}`).toBeGreaterThanOrEqual(
              num(backing, 'y') + num(backing, 'height') + 7,
            );
          }
        }
      }
    }
  });

  // elkjs (0.12, direction DOWN with INCLUDE_CHILDREN) reads a compound node's minimum size
  // transposed: refusal.svg's `refusing` was narrower than its entry line, which ran 20 px past
  // its border, and hub.svg's `shuttingDown` as tall as its line is wide, empty below its states.
  it('makes a composite state as wide as its lines and no taller than its states need', async () => {
    for (const [name, machine] of [...Object.entries(charts), ['sample', sampleMachine] as const]) {
      const graph = machineGraph(machine as AnyStateMachine);
      const svg = readSvg(await renderChart(machine as AnyStateMachine, { format: 'svg' }));
      const containers = compositeStates(svg);
      for (const state of containers) {
        const id = state.attributes['data-state'] as string;
        const box = boxOf(state);
        for (const line of compartment(graph, id)) {
          expect(box.width, `${name}: ${id} holds "${line}"`).toBeGreaterThanOrEqual(
            textWidth(line, 11) + 16,
          );
        }
        const children = state.children.filter((c) => classes(c).includes('state')).map(boxOf);
        const lowest = Math.max(...children.map((child) => child.y + child.height));
        expect(box.y + box.height - lowest, `${name}: ${id}'s space below its states`).toBeLessThanOrEqual(
          40,
        );
      }
    }
  });

  // The marker ids replaced every character but [A-Za-z0-9_-] with `_`: `billing.v2` and
  // `billing-v2`... shared `ws-supervisor-arrow-billing_v2`, so two charts inlined in one page drew
  // their arrows with whichever marker came first.
  it('gives two machines whose ids differ only in punctuation marker ids of their own', async () => {
    const { createMachine } = await import('xstate');
    // And one whose marker was the other's delay marker: `billing-delay`.
    const ids = [
      'billing.v2',
      'billing_v2',
      'billing-v2',
      'billing v2',
      'billing:v2',
      'billing',
      'billing-delay',
    ];
    const markersOf = async (id: string) => {
      const machine = createMachine({ id, initial: 'a', states: { a: { after: { 10: 'b' } }, b: {} } });
      const svg = readSvg(await renderChart(machine, { format: 'svg' }));
      const markers = all(svg, (e) => e.name === 'marker').map((e) => e.attributes.id as string);
      expect(markers).toHaveLength(2);
      for (const marker of markers) expect(marker).toMatch(/^ws-supervisor-arrow-[A-Za-z0-9_-]+$/);
      // The arrows point at this chart's own markers.
      const used = all(svg, (e) => e.attributes['marker-end'] !== undefined).map(
        (e) => e.attributes['marker-end'],
      );
      expect(new Set(used)).toEqual(new Set(markers.map((marker) => `url(#${marker})`)));
      return markers;
    };
    const markers = (await Promise.all(ids.map(markersOf))).flat();
    expect(new Set(markers).size).toBe(markers.length);
    // Plain ids keep the markers they had (docs/machines/*.svg do not change).
    expect(await markersOf('userSupervisor')).toEqual([
      'ws-supervisor-arrow-userSupervisor',
      'ws-supervisor-arrow-userSupervisor-delay',
    ]);
  });

  it('loads elkjs only lazily: only the layout names it, as an optional peer or in a type import', () => {
    const src = fileURLToPath(new URL('../../src/', import.meta.url));
    const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((file) =>
      file.endsWith('.ts'),
    );
    const users = files.filter((file) => readFileSync(join(src, file), 'utf8').match(/['"]elkjs/));
    expect(users).toEqual([join('chart', 'layout.ts')]);
    const layout = readFileSync(join(src, 'chart', 'layout.ts'), 'utf8');
    for (const line of layout.split('\n').filter((l) => l.includes("'elkjs/"))) {
      expect(line).toMatch(
        /^import type |^type \w+ = .*typeof import\('elkjs\/|^const ELK_MODULE = 'elkjs\//,
      );
    }
    expect(layout).toContain("await importOptionalPeer<ElkBundled>('elkjs', ELK_MODULE, 'SVG charts')");
  });
});

/** An edge's path as points, from its `d`. */
const pointsOf = (edge: Element) => {
  const path = edge.children.find((child) => child.name === 'path') as Element;
  return [...(path.attributes.d ?? '').matchAll(/[ML] (-?[\d.]+) (-?[\d.]+)/g)].map((m) => ({
    x: Number(m[1]),
    y: Number(m[2]),
  }));
};
/** Distance between a box and an axis-parallel segment (0 when they touch). */
const boxToSegment = (box: Box, a: { x: number; y: number }, b: { x: number; y: number }) => {
  const dx = Math.max(box.x - Math.max(a.x, b.x), 0, Math.min(a.x, b.x) - (box.x + box.width));
  const dy = Math.max(box.y - Math.max(a.y, b.y), 0, Math.min(a.y, b.y) - (box.y + box.height));
  return Math.hypot(dx, dy);
};
const overlap = (a: Box, b: Box) => !apart(a, b);

// What a reviewer reads in review: every arrow with its words beside it, no words on a state or on
// other words, and no arrow that runs around the whole chart (in client.svg, RESUME and ACTIVITY
// back into `connection` left suspended's bottom, ran round the picture and came in at the top:
// with their labels far off on the sides, they read as one big unlabelled box around everything).
describe.each([...Object.entries(charts), ['sample', sampleMachine] as const])(
  'SVG of %s reads in review',
  (name, machine) => {
    const rendered = async () => {
      const svg = readSvg(await renderChart(machine as AnyStateMachine, { format: 'svg' }));
      const states = all(svg, (e) => e.name === 'g' && classes(e).includes('state'));
      const box = (id: string) => boxOf(states.find((g) => g.attributes['data-state'] === id) as Element);
      const edges = all(svg, (e) => e.name === 'g' && classes(e).includes('edge'));
      return { svg, states, box, edges };
    };

    it('routes an arrow between its states, never round the back of either', async () => {
      const { box, edges } = await rendered();
      for (const edge of edges) {
        const source = box(edge.attributes['data-source'] as string);
        const target = box(edge.attributes['data-target'] as string);
        if (!apart(source, target)) continue; // a self-loop, or into a state's own child
        const ys = pointsOf(edge).map((p) => p.y);
        const top = Math.min(source.y, target.y);
        const bottom = Math.max(source.y + source.height, target.y + target.height);
        const what = `${name}: ${edge.attributes['data-events']} (${ys.join(' ')})`;
        expect(Math.min(...ys), what).toBeGreaterThanOrEqual(top - 2);
        expect(Math.max(...ys), what).toBeLessThanOrEqual(bottom + 2);
      }
    });

    // In client.svg, `SOCKET_CLOSED [needsTheApp]` (connection to suspended.untilResumed) went
    // ~430px out to the left of both states and back, and `after connectTimeout` (connecting to
    // waiting) ran left, down and across under everything: with their words at the far ends, the
    // two read as a frame round the picture. An arrow may step aside by its label's width (its
    // words sit beside it) and come back; anything longer goes round something.
    it('takes a short path: no longer than from end to end, plus a step aside by its label and back', async () => {
      const { edges } = await rendered();
      for (const edge of edges) {
        const points = pointsOf(edge);
        const first = points[0] as (typeof points)[number];
        const last = points[points.length - 1] as (typeof points)[number];
        const length = points
          .slice(1)
          .reduce(
            (sum, p, i) => sum + Math.hypot(p.x - (points[i] as typeof p).x, p.y - (points[i] as typeof p).y),
            0,
          );
        const direct = Math.abs(last.x - first.x) + Math.abs(last.y - first.y);
        const label = edge.children.some((child) => child.name === 'rect') ? boxOf(edge).width : 0;
        const what = `${name}: ${edge.attributes['data-events']} is ${Math.round(length)}px for ${Math.round(direct)}px`;
        expect(length, what).toBeLessThanOrEqual(direct + 2 * label + 100);
      }
    });

    // After the first fix, client.svg's arrow into `suspended.untilResumed` came down through the
    // word `suspended`: ELK knew nothing of a composite's name in its top left corner.
    it("keeps arrows off every state's name and out of every state they do not start or end in", async () => {
      const { states, box, edges } = await rendered();
      const leaves = states.filter((g) => !states.some((other) => other.parent === g));
      for (const edge of edges) {
        const points = pointsOf(edge);
        const ends = [edge.attributes['data-source'], edge.attributes['data-target']];
        const segments = points.slice(1).map((p, i) => [points[i] as typeof p, p] as const);
        const what = `${name}: ${edge.attributes['data-events']}`;
        for (const state of states) {
          const id = state.attributes['data-state'] as string;
          const label = state.children.find((c) => classes(c).includes('state-label')) as Element;
          const width = textWidth(label.text, 13);
          const x =
            label.attributes['text-anchor'] === 'middle' ? num(label, 'x') - width / 2 : num(label, 'x');
          const words = { x, y: num(label, 'y') - 12, width, height: 15 };
          for (const [a, b] of segments) {
            expect(boxToSegment(words, a, b), `${what} crosses the name of ${id}`).toBeGreaterThan(0);
          }
          if (!leaves.includes(state) || ends.includes(id)) continue;
          const inner = { ...box(id) };
          const interior = {
            x: inner.x + 1,
            y: inner.y + 1,
            width: inner.width - 2,
            height: inner.height - 2,
          };
          for (const [a, b] of segments) {
            expect(boxToSegment(interior, a, b), `${what} crosses ${id}`).toBeGreaterThan(0);
          }
        }
      }
    });

    it('writes every label beside its own arrow, clear of other labels and of states', async () => {
      const { svg, states, edges } = await rendered();
      const root = svg.children[0] as Element;
      const canvas = { x: 0, y: 0, width: num(root, 'width'), height: num(root, 'height') };
      const labelled = edges.map((edge) => {
        const backing = edge.children.find((child) => child.name === 'rect');
        expect(backing, `${name}: ${edge.attributes['data-events']} has a label`).toBeDefined();
        return { edge, label: boxOf(edge), points: pointsOf(edge) };
      });
      const leaves = states.filter((g) => !states.some((other) => other.parent === g));
      const containers = states.filter((g) => !leaves.includes(g));
      const note = all(svg, (e) => classes(e).includes('note')).map(boxOf);
      for (const [index, { edge, label, points }] of labelled.entries()) {
        const what = `${name}: label of ${edge.attributes['data-events']}`;
        expect(inside(label, canvas), `${what} is on the canvas`).toBe(true);
        const near = Math.min(
          ...points.slice(1).map((p, i) => boxToSegment(label, points[i] as typeof p, p)),
        );
        expect(near, `${what} is beside its arrow`).toBeLessThanOrEqual(6);
        for (const other of labelled.slice(index + 1)) {
          expect(overlap(label, other.label), `${what} / ${other.edge.attributes['data-events']}`).toBe(
            false,
          );
        }
        for (const leaf of leaves) {
          expect(overlap(label, boxOf(leaf)), `${what} / state ${leaf.attributes['data-state']}`).toBe(false);
        }
        for (const container of containers) {
          const state = boxOf(container);
          expect(
            inside(label, state) || apart(label, state),
            `${what} crosses the border of ${container.attributes['data-state']}`,
          ).toBe(true);
        }
        for (const box of note) expect(overlap(label, box), `${what} / the note`).toBe(false);
      }
    });
  },
);
