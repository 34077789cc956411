/**
 * Mermaid output. Besides the exact lines a reader relies on, a small parser
 * checks the rule Mermaid itself imposes: a state mentioned inside a composite
 * block is moved into that block, so each state may be mentioned only in its
 * own parent's block or at the top level.
 */

import { describe, expect, it } from 'vitest';
import { type AnyStateMachine, setup } from 'xstate';
import { ROOT } from '../../src/chart/graph.js';
import { charts, machineGraph, renderChart } from '../../src/chart/index.js';
import { compartment } from '../../src/chart/labels.js';
import { toMarkdown } from '../../src/chart/markdown.js';
import { sampleMachine } from './sample.machine.js';

/**
 * Reads the block structure: where each state is declared (its block, or null
 * at the top level), which states each block's edges and notes mention, and
 * the block of each `--` (a region separator).
 */
function parse(text: string) {
  const stack: string[] = [];
  const declared = new Map<string, string | null>();
  const declarations: string[] = [];
  const mentions: { id: string; block: string | null; line: string }[] = [];
  const notes: { id: string; lines: string[] }[] = [];
  const dividers: (string | null)[] = [];
  let inNote = false;
  const block = () => stack.at(-1) ?? null;
  const declare = (id: string) => {
    declarations.push(id);
    declared.set(id, block());
  };
  const mention = (id: string, line: string) => {
    if (id !== '[*]') mentions.push({ id, block: block(), line });
  };
  // Each line kind, tried in order; the first that matches reads the line.
  const rules: [RegExp, (match: string[], line: string) => void][] = [
    [/^$|^%%/, () => {}],
    [/^--$/, () => dividers.push(block())],
    [
      /^state (\S+) \{$/,
      ([, id]) => {
        // Named on the line before (`state "a b" as s_a_b`): the same declaration.
        if (declarations.at(-1) !== id || declared.get(id as string) !== block()) declare(id as string);
        stack.push(id as string);
      },
    ],
    [/^\}$/, () => expect(stack.pop(), 'unbalanced }').toBeDefined()],
    [
      /^(\S+) --> (\S+)(?: : .+)?$/,
      ([, source, target], line) => {
        mention(source as string, line);
        mention(target as string, line);
      },
    ],
    [
      /^note right of (\S+)$/,
      ([, id], line) => {
        mention(id as string, line);
        notes.push({ id: id as string, lines: [] });
        inNote = true;
      },
    ],
    [/^state "[^"]+" as (\S+)$/, ([, id]) => declare(id as string)],
    [/^([A-Za-z]\w*)$/, ([, id]) => declare(id as string)],
    [/^(\S+) : .+$/, ([, id], line) => mention(id as string, line)],
  ];
  for (const raw of text.trimEnd().split('\n').slice(1)) {
    const line = raw.trim();
    if (inNote) {
      inNote = line !== 'end note';
      if (inNote) notes.at(-1)?.lines.push(line);
      continue;
    }
    const rule = rules.find(([pattern]) => pattern.test(line));
    if (rule === undefined) throw new Error(`unexpected Mermaid line: ${line}`);
    rule[1](line.match(rule[0]) as string[], line);
  }
  expect(stack, 'unclosed state block').toEqual([]);
  expect(inNote, 'unclosed note').toBe(false);
  return { declared, declarations, mentions, notes, dividers };
}

// Every committed chart (docs/machines), not a hand-picked few, plus the sample's odd corners.
describe.each([...Object.entries(charts), ['sample', sampleMachine] as const])(
  'Mermaid of %s',
  (_name, machine) => {
    it('declares each state once, and mentions it only in its own block or at the top level', async () => {
      const text = await renderChart(machine as AnyStateMachine, { format: 'mermaid' });
      expect(text.startsWith('stateDiagram-v2\n')).toBe(true);
      const { declared, declarations, mentions } = parse(text);
      const graph = machineGraph(machine as AnyStateMachine);
      // A parallel root is a composite state of its own, the machine's: Mermaid reads `--` only in one.
      expect(declarations.length).toBe(graph.nodes.length + (graph.parallel === true ? 1 : 0));
      expect(new Set(declarations).size).toBe(declarations.length);
      for (const { id, block, line } of mentions) {
        expect(declared.has(id), `${id} is declared (${line})`).toBe(true);
        if (block !== null) expect(declared.get(id), line).toBe(block);
      }
    });

    // client.md wrote two notes on `connection`: its own (entry / forgetStable, NETWORK_OFFLINE /
    // giveUpOfflineSocket) and the root's `CLOSE → closed`, which then read as connection's too.
    // Mermaid's state book keeps one note per state (StateDB.addState replaces it; older
    // renderers showed one, mermaid-js/mermaid#2055); its current renderer draws both, in one
    // note group beside the state.
    it('writes at most one note per state, and every listed line of the machine in a note', async () => {
      const text = await renderChart(machine as AnyStateMachine, { format: 'mermaid' });
      const { notes } = parse(text);
      const ids = notes.map((note) => note.id);
      expect(ids.length, `notes on ${ids.join(', ')}`).toBe(new Set(ids).size);
      const graph = machineGraph(machine as AnyStateMachine);
      // Mermaid's entity codes back to the characters they stand for.
      const noted = notes.flatMap((note) =>
        note.lines.map((line) =>
          line.replace(/#quot;/g, '"').replace(/#(\d+);/g, (_, code) => String.fromCharCode(Number(code))),
        ),
      );
      const listed = [
        ROOT,
        ...graph.nodes
          .filter((node) => node.type !== 'atomic' && node.type !== 'final')
          .map((node) => node.id),
      ].flatMap((id) => compartment(graph, id));
      for (const line of listed) expect(noted, line).toContain(line);
    });

    // dashboard.md drew its root's regions `poll` and `burst` as two unrelated states, no `--`.
    it('separates the regions of every parallel state, a parallel root too, with --, never at the top level', async () => {
      const text = await renderChart(machine as AnyStateMachine, { format: 'mermaid' });
      const { dividers } = parse(text);
      const graph = machineGraph(machine as AnyStateMachine);
      const regionsOf = (parent: string | null) =>
        graph.nodes.filter((node) => node.parent === parent).length;
      const expected =
        graph.nodes
          .filter((node) => node.type === 'parallel')
          .reduce((sum, node) => sum + regionsOf(node.id) - 1, 0) +
        (graph.parallel === true ? regionsOf(null) - 1 : 0);
      expect(dividers.length).toBe(expected);
      expect(dividers).not.toContain(null);
    });
  },
);

describe('Mermaid of the connection machine', async () => {
  const text = await renderChart(charts.connection, { format: 'mermaid' });
  const lines = text.split('\n');
  const blockOf = (name: string) => {
    const start = lines.findIndex((line) => line.trim() === `state ${name} {`);
    const indent = lines[start]?.indexOf('state') ?? 0;
    const end = lines.findIndex((line, index) => index > start && line === `${' '.repeat(indent)}}`);
    return lines.slice(start, end + 1).join('\n');
  };

  it('nests the parallel regions in `active`, separated by --', () => {
    const active = blockOf('active');
    expect(active).toMatch(/state activity \{[\s\S]*\}\n\s*--\n\s*state heartbeat \{/);
    expect(blockOf('activity')).toContain('[*] --> live');
    expect(blockOf('heartbeat')).toContain('[*] --> beating');
  });

  it('draws initial and final markers, and labels events, guards and delays', () => {
    expect(lines).toContain('  [*] --> connecting');
    expect(lines).toContain('  disposed --> [*]');
    expect(lines).toContain('  connecting --> active : SOCKET_OPENED / runOpenHook');
    expect(lines).toContain(
      '  connecting --> disposed : after connectTimeout / abortHandshake, recordEnd(reason#58; #quot;connect-timeout#quot;)',
    );
    expect(lines).toContain(
      '  connecting --> disposed : SOCKET_CLOSED / recordEnd<br/>' +
        'SOCKET_ERRORED / abortHandshake, recordEnd(reason#58; #quot;error#quot;)<br/>' +
        'EVICT / abortHandshake, recordEnd(reason#58; #quot;evicted#quot;)<br/>DRAIN / abortHandshake, recordEnd<br/>' +
        'TERMINATE / abortHandshake, recordEnd(reason#58; #quot;shutdown#quot;)',
    );
    expect(lines).toContain(
      '  beating --> disposed : after heartbeatInterval [pongMissed] / terminateSocket, recordEnd(reason#58; #quot;dead-peer#quot;)',
    );
    expect(blockOf('activity')).toContain('live --> idle : after idleTimeout [isQuiet]');
    // The unguarded delay after the guarded one is its fallback: `[else]`, not "every time".
    expect(blockOf('activity')).toContain('live --> live : after idleTimeout [else]\n');
    expect(blockOf('activity')).toContain(
      'idle --> live : MESSAGE_RECEIVED / notifyActive, deliverMessage<br/>MESSAGE_SENT / notifyActive',
    );
    // Each arrow names its actions, with their fixed params: the close codes the machine fixes
    // (DRAIN's comes with its event, so its closeSocket names none; SOCKET_ERRORED's, the code
    // ws sent, too, so its recordEnd names no params).
    expect(lines).toContain(
      '  active --> draining : CLOSE_FRAME_RECEIVED / recordEnd(reason#58; #quot;closed#quot;)<br/>' +
        'SOCKET_ERRORED / recordEnd<br/>' +
        'EVICT / recordEnd(reason#58; #quot;evicted#quot;, closeCode#58; 4001), closeSocket<br/>' +
        'DRAIN / recordEnd, closeSocket<br/>' +
        'BUFFER_OVERFLOWED / recordEnd(reason#58; #quot;slow-consumer#quot;, closeCode#58; 4008), ' +
        'closeSocket(code#58; 4008, reason#58; #quot;slow consumer#quot;)<br/>' +
        'MESSAGE_RATE_EXCEEDED / recordEnd(reason#58; #quot;message-rate-exceeded#quot;, closeCode#58; 4009), ' +
        'closeSocket(code#58; 4009, reason#58; #quot;message rate exceeded#quot;)<br/>' +
        'APP_HOOK_FAILED / recordEnd(reason#58; #quot;app-error#quot;, closeCode#58; 1011), ' +
        'closeSocket(code#58; 1011, reason#58; #quot;internal error#quot;)',
    );
  });

  it('says which states deliver messages: entry and exit actions in the box, in UML order', () => {
    const activity = blockOf('activity')
      .split('\n')
      .map((line) => line.trim());
    const declared = activity.indexOf('state "live" as live');
    expect(declared).toBeGreaterThan(0);
    expect(activity.slice(declared + 1, declared + 3)).toEqual([
      'live : entry / deliverDirectly',
      'live : exit / deliverViaMachine',
    ]);
    expect(activity).toContain('idle : entry / notifyIdle');
    expect(lines).toContain('  draining : entry / notifyDraining');
    // The delays' own scheduling is drawn as their arrows, not listed.
    expect(text).not.toContain('xstate.raise');
    expect(text).not.toContain('xstate.cancel');
  });

  it('writes edges that leave a composite at the top level, never inside it', () => {
    expect(blockOf('active')).not.toContain('disposed');
    expect(blockOf('active')).not.toContain('draining');
  });
});

describe('Mermaid of a machine whose root is parallel', () => {
  const tiny = setup({}).createMachine({
    id: 'tiny',
    type: 'parallel',
    states: {
      a: { initial: 'x', states: { x: { on: { GO: 'y' } }, y: {} } },
      b: { initial: 'p', states: { p: {}, q: {} } },
    },
  });

  // Mermaid has concurrency only inside a composite state (`--` between its regions): the root
  // is one, named after the machine, entered from the start marker, as `active` is in connection.md.
  it('wraps the regions in a composite state named after the machine, separated by --', async () => {
    const text = await renderChart(tiny, { format: 'mermaid' });
    expect(text).toBe(
      [
        'stateDiagram-v2',
        '  %% tiny: generated from the machine definition by ws-supervisor; do not edit.',
        '  [*] --> tiny',
        '  state tiny {',
        '    state a {',
        '      [*] --> x',
        '      x',
        '      y',
        '      x --> y : GO',
        '    }',
        '    --',
        '    state b {',
        '      [*] --> p',
        '      p',
        '      q',
        '    }',
        '  }',
        '',
      ].join('\n'),
    );
  });

  it('dashboard: poll and burst are regions of dashboardFeed, each with its start marker', async () => {
    const text = await renderChart(charts.dashboard, { format: 'mermaid' });
    expect(text).toContain(
      '\n  [*] --> dashboardFeed\n  state dashboardFeed {\n    state poll {\n      [*] --> waiting\n',
    );
    expect(text).toMatch(/\n {4}\}\n {4}--\n {4}state burst \{\n {6}\[\*\] --> quiet\n/);
  });

  it("gives the machine a path id, with its id as label, when a state or Mermaid's words have its name", async () => {
    const named = (id: string) =>
      setup({}).createMachine({
        id,
        type: 'parallel',
        states: { a: { initial: 'x', states: { x: {} } }, b: {} },
      });
    const same = await renderChart(named('a'), { format: 'mermaid' });
    expect(same).toContain('  [*] --> s_a\n  state "a" as s_a\n  state s_a {\n    state a {\n');
    const keyword = await renderChart(named('end'), { format: 'mermaid' });
    expect(keyword).toContain('  [*] --> s_end\n  state "end" as s_end\n  state s_end {\n');
    const spaced = await renderChart(named('my feed'), { format: 'mermaid' });
    expect(spaced).toContain('  [*] --> s_my_feed\n  state "my feed" as s_my_feed\n  state s_my_feed {\n');
    // An atomic region is one state in its part of the box.
    expect(spaced).toContain('    }\n    --\n    b\n  }\n');
  });

  it("writes the machine's entry actions and its transitions in one note on the machine's box", async () => {
    const machine = setup({ actions: { log: () => {}, open: () => {} } }).createMachine({
      id: 'noted',
      type: 'parallel',
      entry: 'log',
      on: { PING: { actions: 'log' } },
      states: { a: { entry: 'open', initial: 'x', states: { x: {} } }, b: {} },
    });
    const text = await renderChart(machine, { format: 'mermaid' });
    expect(text).toContain(
      '  note right of noted\n    noted (the machine)\n    entry / log\n    in any state\n    PING / log\n  end note\n',
    );
    expect(text).toContain('    note right of a\n      entry / open\n    end note\n');
    expect(text.match(/note right of/g)).toHaveLength(2);
  });
});

describe('Mermaid of the other machines', () => {
  it('supervisor: internal transitions are descriptions under the declared name', async () => {
    const text = await renderChart(charts.supervisor, { format: 'mermaid' });
    const lines = text.split('\n');
    const declared = lines.indexOf('  state "supervising" as supervising');
    const first = lines.indexOf(
      '  supervising : ADMIT [hasRoomAfterEviction] / adoptLimit, supersede, evictIdle, admit',
    );
    expect(declared).toBeGreaterThan(0);
    expect(first).toBeGreaterThan(declared);
    expect(lines).toContain(
      '  supervising --> stopped : xstate.done.actor.* [isLastChildWithoutLinger] / forgetChild(ends#58; true)<br/>' +
        'xstate.error.actor.* [isLastChildWithoutLinger] / forgetChild(ends#58; true)',
    );
    expect(lines).toContain(
      '  shuttingDown --> stopped : xstate.done.actor.* [isLastChild] / forgetChild(ends#58; true)<br/>' +
        'xstate.error.actor.* [isLastChild] / forgetChild(ends#58; true)<br/>always [hasNoChildren]',
    );
    expect(lines).toContain('  lingering --> stopped : after lingerTimeout');
  });

  it('hub: the shutdown paths, the batches, the deadline from shuttingDown to drained, and no root transitions', async () => {
    const text = await renderChart(charts.hub, { format: 'mermaid' });
    expect(text).toContain('  running --> pacing : SHUTDOWN [isPaced]');
    expect(text).toContain('  running --> draining : SHUTDOWN');
    expect(text).toContain('    pacing --> pacing : after batchInterval');
    expect(text).toContain('    pacing --> draining : after batchInterval [isLastBatch]');
    expect(text).toContain('    draining --> draining : TURN_PASSED');
    expect(text).toContain('    draining --> drained : EVERY_USER_TOLD');
    expect(text).toContain('  shuttingDown --> stopped : ALL_USERS_ENDED');
    // From anywhere in shuttingDown: the deadline ends the batches and chunks.
    expect(text).toContain('  shuttingDown --> drained : after shutdownDeadline / terminateAll');
    expect(text).not.toContain('note right of shuttingDown');
    expect(text).not.toContain('in any state');
  });

  // An invoke without an id gets one from XState (`0.lease.holding.renewal.renewing`): its
  // done and error events named the index and the path, not what was invoked.
  it('lease: the done and error of an invoke without an id read as onDone/onError of its src', async () => {
    const text = await renderChart(charts.lease, { format: 'mermaid' });
    expect(text).toContain('  starting --> holding : onDone (startStore)');
    expect(text).toContain('  starting --> retrying : onError (startStore)');
    expect(text).toContain(
      'renewing --> reconciling : onDone (renewLease) [isLost] / leaseLost<br/>onDone (renewLease) [hasWorkLeft]',
    );
    expect(text).toContain(
      'reaping --> s_holding_reaper_waiting : onDone (reapDeadSlots)<br/>onError (reapDeadSlots)',
    );
    expect(text).not.toMatch(/xstate\.(?:done|error)\.actor\.\d/);
  });

  it("lease.md: the vocabulary names the id-less invokes by src, not XState's made-up event types", () => {
    const page = toMarkdown('lease', machineGraph(charts.lease));
    expect(page).toContain('- Events: `INCARNATION_CHANGED`, `RENEW_NOW`\n');
    expect(page).toContain(
      '- Invoked (onDone / onError): `reapDeadSlots`, `reconcile`, `renewLease`, `startStore`\n',
    );
    expect(page).not.toMatch(/xstate\.(?:done|error)\.actor\.\d/);
  });

  it('connection.md: lists the order in which the guards of one delay are tried, which no arrow shows', () => {
    // A missed pong with an expired session: XState tries isExpired first, so the peer gets a 4002.
    const graph = machineGraph(charts.connection);
    const beating = graph.edges.filter((edge) => edge.source === 'active.heartbeat.beating');
    expect(beating.map((edge) => [edge.guard, edge.order, edge.fallback])).toEqual([
      ['isExpired', 1, undefined],
      ['pongMissed', 2, undefined],
      [undefined, undefined, true],
    ]);
    // One guard and its [else] need no number: the order is the only one there is.
    const live = graph.edges.filter((edge) => edge.source === 'active.activity.live');
    expect(live.map((edge) => edge.order)).toEqual([undefined, undefined]);
    const page = toMarkdown('connection', graph);
    expect(page).toContain(
      '  - `after heartbeatInterval` in `active.heartbeat.beating`: `isExpired`, `pongMissed`, `[else]`\n',
    );
    expect(page).not.toContain('`after idleTimeout` in');
    // Two guards without an [else] are listed too (the supervisor's EVICT_IF_IDLE).
    expect(toMarkdown('supervisor', machineGraph(charts.supervisor))).toContain(
      '  - `EVICT_IF_IDLE` in `supervising`: `isIdle`, `isLive`\n',
    );
  });

  it("refusal: a composite state's entry actions go in its note", async () => {
    const text = await renderChart(charts.refusal, { format: 'mermaid' });
    expect(text).toContain(
      '  note right of refusing\n    entry / bindTransport, completeHandshake\n  end note',
    );
    expect(text).toContain('    closing : entry / sendCloseFrame');
  });

  it('sample: shared keys and Mermaid keywords get path ids with their key as label', async () => {
    const text = await renderChart(sampleMachine, { format: 'mermaid' });
    expect(text).toContain('state "running" as s_working_task_running');
    expect(text).toContain('state "running" as s_working_watch_running');
    expect(text).toContain('state "end" as s_end');
    expect(text).toContain('s_end --> [*]');
    expect(text).toContain('working --> s_end : STOP');
    expect(text).toContain('paused --> s_working_watch_running : always [isReady && !isBusy]');
    expect(text).not.toMatch(/^\s*end\s*$/m);
    expect(text).toContain('after 1000 ms');
    expect(text).toContain('after retryDelay (250 ms)');
    expect(text).toContain('always [isReady && !isBusy]');
    // Root transitions go in a note: one to a state, one internal with its action.
    expect(text).toMatch(/note right of idle\n\s+in any state\n\s+RESET → idle\n\s+TICK \/ log\n\s+end note/);
  });
});

describe('Mermaid notes', () => {
  // connection.md had no `entry / bindTransport`: only the root's transitions had a note.
  it("writes the machine's own entry actions in the root's note, under the machine's name", async () => {
    const text = await renderChart(charts.connection, { format: 'mermaid' });
    expect(text).toContain(
      '  note right of connecting\n    connection (the machine)\n    entry / bindTransport\n  end note',
    );
  });

  it("adds the root's lines to a state's own note when every top-level state has one", async () => {
    const { setup } = await import('xstate');
    const machine = setup({ actions: { open: () => {}, log: () => {} } }).createMachine({
      id: 'one',
      initial: 'outer',
      entry: 'log',
      on: { PING: { actions: 'log' } },
      states: { outer: { entry: 'open', initial: 'inner', states: { inner: {} } } },
    });
    const text = await renderChart(machine, { format: 'mermaid' });
    expect(text).toContain(
      '  note right of outer\n    entry / open\n    one (the machine)\n    entry / log\n    in any state\n    PING / log\n  end note',
    );
    expect(text.match(/note right of/g)).toHaveLength(1);
  });
});

describe('Mermaid of labels with characters Mermaid reads', () => {
  const machine = async () => {
    const { setup } = await import('xstate');
    return setup({
      guards: { 'has#tag': () => true, 'a<b&c': () => true },
      actions: { 'say "hi"; done': () => {} },
    }).createMachine({
      id: 'odd',
      initial: 'a',
      states: {
        a: {
          on: {
            'GO#1': 'b',
            'LT<GT>': { guard: 'a<b&c', target: 'b' },
            SPLIT: { target: 'b', actions: 'say "hi"; done' },
            'TWO\nLINES': 'b',
            STAY: { guard: 'has#tag', actions: 'say "hi"; done' },
          },
        },
        b: {},
      },
    });
  };

  it('writes each special character as one entity code, never a code inside a code', async () => {
    const text = await renderChart(await machine(), { format: 'mermaid' });
    // `#` alone: `#35;` (its `;` was escaped again to `#35#59;`, which Mermaid shows as `#35;`).
    expect(text).toContain('a --> b : GO#35;1<br/>');
    expect(text).not.toContain('#35#59;');
    // `<` and `>` would be read as a tag by Mermaid's labels; `&` stays readable (`&&`).
    expect(text).toContain('LT#60;GT#62; [a#60;b&c]');
    expect(text).toContain('a : STAY [has#35;tag] / say #quot;hi#quot;#59; done');
  });

  it('keeps a label with a line break on its own line of Mermaid', async () => {
    const text = await renderChart(await machine(), { format: 'mermaid' });
    expect(text).toContain('<br/>TWO LINES');
    expect(text.split('\n').every((line) => line !== 'LINES' && !line.startsWith('LINES'))).toBe(true);
    // Every line is one the grammar knows (the parser above throws on any other).
    expect(() => parse(text)).not.toThrow();
  });

  it('keeps a machine id with a line break inside its comment', async () => {
    const { setup } = await import('xstate');
    const text = await renderChart(
      setup({}).createMachine({ id: 'two\nlines', initial: 'a', states: { a: {} } }),
      { format: 'mermaid' },
    );
    expect(text.split('\n')[1]).toBe(
      '  %% two lines: generated from the machine definition by ws-supervisor; do not edit.',
    );
  });
});

describe('Mermaid ids that its lexer would read as a keyword', () => {
  // Its lexer takes the longest match: `scale` or `stateDiagram` and a space start a statement,
  // and `default` (any case) is a keyword of its own; `defaultMode` is an id.
  it('gives states named default, scale or stateDiagram a path id, with their key as label', async () => {
    const { setup } = await import('xstate');
    const machine = setup({}).createMachine({
      id: 'words',
      initial: 'defaultMode',
      states: {
        defaultMode: { on: { GO: 'scale' } },
        scale: { on: { GO: 'stateDiagram' } },
        stateDiagram: { on: { GO: 'Default' } },
        Default: {},
      },
    });
    const text = await renderChart(machine, { format: 'mermaid' });
    expect(text).toContain('state "scale" as s_scale');
    expect(text).toContain('state "stateDiagram" as s_stateDiagram');
    expect(text).toContain('state "Default" as s_Default');
    expect(text).toContain('defaultMode --> s_scale : GO');
    expect(text).not.toMatch(/^\s*(?:default\b|scale |statediagram )/im);
  });
});

describe('Mermaid labels that its lexer would read as a statement', () => {
  // `direction LR` anywhere on a line is read as a direction statement (the whole line),
  // and `end note` anywhere in a note ends it.
  it('breaks `direction <dir>` and `end note` in names with an entity code for the space', async () => {
    const { setup } = await import('xstate');
    const machine = setup({ actions: { 'send end note': () => {} } }).createMachine({
      id: 'words',
      initial: 'a',
      on: { NOTE: { actions: 'send end note' } },
      states: { a: { on: { 'SET direction lr': 'b' } }, b: {} },
    });
    const text = await renderChart(machine, { format: 'mermaid' });
    expect(text).toContain('a --> b : SET direction#32;lr');
    expect(text).toContain('    NOTE / send end#32;note');
    expect(text).not.toMatch(/direction\s+(?:tb|bt|rl|lr)/i);
    expect(text.match(/end note/gi)).toHaveLength(1);
  });
});

describe('Mermaid of composite names and history states', () => {
  const machine = setup({}).createMachine({
    id: 'names',
    initial: 'a b',
    states: {
      'a b': {
        initial: 'inner',
        states: { inner: { on: { GO: 'other' } }, other: {}, hist: { type: 'history' } },
      },
      back: { on: { BACK: '#names.a b.hist' } },
    },
  });

  // `state s_a_b {` alone: Mermaid titled the box s_a_b, where an atomic state got its name.
  it("declares a composite state's name before its block when its id is not its name", async () => {
    const text = await renderChart(machine, { format: 'mermaid' });
    expect(text).toContain('  state "a b" as s_a_b\n  state s_a_b {\n');
    const { declarations } = parse(text);
    expect(declarations).toEqual(
      machineGraph(machine).nodes.map((node) => (node.key === 'a b' ? 's_a_b' : node.key)),
    );
  });

  // DOT draws a history state as a circle; Mermaid has no history pseudostate, so its box says so.
  it('marks a history state in its box', async () => {
    const text = await renderChart(machine, { format: 'mermaid' });
    expect(text).toContain('    state "hist" as hist\n    hist : (H) history\n');
    expect(text).not.toContain('inner : (H) history');
  });
});

describe('the fallback of guarded transitions', () => {
  const machine = setup({ guards: { ready: () => true, late: () => false } }).createMachine({
    id: 'fallback',
    initial: 'a',
    states: {
      a: {
        on: {
          GO: [{ guard: 'ready', target: 'b' }, { target: 'c' }],
          // Unguarded first: the guarded one after it is never taken, and nothing is an `else`.
          BACK: [{ target: 'c' }, { guard: 'late', target: 'b' }],
          PING: { actions: [] },
        },
        after: {
          1000: [
            { guard: 'late', target: 'b' },
            { target: 'a', reenter: true },
          ],
        },
      },
      b: {},
      c: {},
    },
  });

  it('reads `[else]` after the guarded ones of its state for the same event or delay, and only there', async () => {
    const text = await renderChart(machine, { format: 'mermaid' });
    expect(text).toContain('a --> b : GO [ready]<br/>BACK [late]\n');
    expect(text).toContain('a --> c : GO [else]<br/>BACK\n');
    expect(text).toContain('a --> b : after 1000 ms [late]\n');
    expect(text).toContain('a --> a : after 1000 ms [else]\n');
    expect(text).toContain('a : PING\n');
    expect(text.match(/\[else\]/g)).toHaveLength(2);
  });
});

describe('a second unguarded transition after guarded ones', () => {
  // Review: both unguarded ones read `[else]`, though XState never takes the second.
  const machine = setup({ guards: { ready: () => true } }).createMachine({
    id: 'unreachable',
    initial: 'a',
    states: {
      a: { on: { GO: [{ guard: 'ready', target: 'b' }, { target: 'c' }, { target: 'd' }] } },
      b: {},
      c: {},
      d: {},
    },
  });

  it('is no fallback: only the first unguarded one reads `[else]`', async () => {
    const text = await renderChart(machine, { format: 'mermaid' });
    expect(text).toContain('a --> c : GO [else]\n');
    expect(text).toContain('a --> d : GO\n');
    expect(text.match(/\[else\]/g)).toHaveLength(1);
  });
});
