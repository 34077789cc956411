/**
 * The README's tables are the user's contract: a test fails when one of them
 * and the code drift apart (as error-codes.test.ts does for the error codes).
 * The lists below are typed as records over the code's own unions, so adding
 * a reason or an option fails the typecheck here until it is listed, and then
 * this test until the README has its row.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ClientCloseCodes, CloseCodes, closeKindOf, dispositionOf } from '../../machines/index.js';
import type { ClientEvents } from '../../src/client/index.js';
import { resolveDashboardOptions } from '../../src/dashboard/handler.js';
import {
  type AdmittedEvent,
  type CapacityEvent,
  type ClusterOptions,
  createSupervisor,
  type DisposedEvent,
  type DisposeInfo,
  defaultRetryAfterMs,
  type EvictedEvent,
  type IncarnationEvent,
  type OfflineEvent,
  type ReapedEvent,
  type RejectedEvent,
  type StoreEvent,
  type SupervisorEventMap,
  type SupervisorOptions,
} from '../../src/index.js';
import { metricNames, registerMetrics } from '../../src/metrics/index.js';
import { DISPOSE_REASONS, REJECT_REASONS } from '../../src/reasons.js';
import { closeCodeFor } from '../../src/refusal.js';
import { readPage } from '../helpers/docs.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';

/** The rows of the first table after `heading` (a whole line of the docs page `page`). */
function tableAfter(page: string, heading: string): string[][] {
  const text = readPage(page);
  const start = text.indexOf(`\n${heading}\n`);
  if (start === -1) throw new Error(`${page} has no heading "${heading}"`);
  const lines = text.slice(start).split('\n');
  const first = lines.findIndex((line) => line.startsWith('| '));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1] as string);

describe("the README's close-code table", () => {
  const rows = tableAfter('docs/rules.md', '### Close codes and HTTP statuses');
  const reasonOf = (row: string[]) => names(row[2] ?? '');

  it('names every `rejected` and `disposed` reason, and no other', () => {
    const documented = new Set(rows.flatMap(reasonOf));
    expect([...documented].sort()).toEqual([...new Set([...REJECT_REASONS, ...DISPOSE_REASONS])].sort());
  });

  it('gives each close code the runtime sends on the row of its reason', () => {
    const rowOf = (reason: string) => rows.find((row) => reasonOf(row).includes(reason))?.[1] ?? '';
    expect(rowOf('evicted')).toContain(`**${CloseCodes.evicted}**`);
    expect(rowOf('slow-consumer')).toContain(`**${CloseCodes.slowConsumer}**`);
    expect(rowOf('app-error')).toContain(`**${CloseCodes.internalError}**`);
    expect(rowOf('shutdown')).toContain(`**${CloseCodes.goingAway}**`);
    expect(rowOf('expired')).toContain(`**${CloseCodes.sessionExpired}**`);
  });

  it('marks deprecated, in the README and in its TSDoc, every exported close code the runtime never sends', () => {
    const root = new URL('../../', import.meta.url);
    const runtime = ['machines', 'src']
      .flatMap((dir) =>
        readdirSync(new URL(dir, root), { recursive: true, encoding: 'utf8' })
          .filter((entry) => entry.endsWith('.ts'))
          .map((entry) => readFileSync(new URL(`${dir}/${entry}`, root), 'utf8')),
      )
      .join('\n');
    const section =
      readPage('docs/rules.md').split('\n### Close codes and HTTP statuses\n')[1]?.split(/^## /m)[0] ?? '';
    const definition = readFileSync(new URL('machines/connection.machine.ts', root), 'utf8');
    const unsent = Object.entries(CloseCodes).filter(([name]) => !runtime.includes(`CloseCodes.${name}`));
    expect(unsent.map(([name]) => name)).toEqual(['tryAgainLater']);
    for (const [name, code] of unsent) {
      expect(section).toMatch(new RegExp(`\`CloseCodes\\.${name}\` \\(${code}\\)[^.]*deprecated`));
      expect(definition).toMatch(
        new RegExp(`/\\*\\*(?:(?!\\*/)[\\s\\S])*@deprecated(?:(?!\\*/)[\\s\\S])*\\*/\\s*${name}:`),
      );
    }
  });

  it('gives the default Retry-After of each built-in refusal', () => {
    const rowOf = (reason: string) => rows.find((row) => reasonOf(row).includes(reason))?.[1] ?? '';
    const seconds = (ms: number) => `\`Retry-After: ${ms / 1000}\``;
    expect(rowOf('user-limit')).toContain(seconds(defaultRetryAfterMs['user-limit']));
    expect(rowOf('process-limit')).toContain(seconds(defaultRetryAfterMs['process-limit']));
    expect(rowOf('shutting-down')).toContain(seconds(defaultRetryAfterMs['shutting-down']));
  });

  // The tables are exported, and the machines read them when they close a socket (CloseCodes)
  // or choose what to do after a close (ClientCloseCodes): a JS caller's write must throw, not
  // change the codes every server in the process sends or every client's reconnects.
  it.each([
    ['CloseCodes', CloseCodes, 'evicted'],
    ['ClientCloseCodes', ClientCloseCodes, 'sessionExpired'],
  ] as const)('%s cannot be changed by a caller', (_name, table, key) => {
    const writable = table as unknown as Record<string, number>;
    const code = writable[key];
    expect(() => {
      writable[key] = 1000;
    }).toThrow(TypeError);
    expect(() => delete writable[key]).toThrow(TypeError);
    expect(writable[key]).toBe(code);
  });
});

describe("the README's option tables", () => {
  it('name every option of createSupervisor, and no other', () => {
    const options = Object.keys({
      preset: true,
      maxConnectionsPerUser: true,
      evictionThreshold: true,
      idleTimeoutMs: true,
      heartbeatIntervalMs: true,
      connectTimeoutMs: true,
      authenticateTimeoutMs: true,
      drainTimeoutMs: true,
      maxPayloadBytes: true,
      maxBufferedBytes: true,
      lingerMs: true,
      activity: true,
      supersede: true,
      atLimit: true,
      heartbeatMessage: true,
      maxConnections: true,
      maxRoomsPerConnection: true,
      capacityLevels: true,
      capacityHysteresis: true,
      refuse: true,
      maxCloseRefusals: true,
      closeRefusalTimeoutMs: true,
      admissionRate: true,
      messageRate: true,
      retryAfterMs: true,
      authenticate: true,
      allowedOrigins: true,
      onOpen: true,
      onMessage: true,
      onClose: true,
      onError: true,
      webSocketServer: true,
      clock: true,
      inspect: true,
      cluster: true,
    } satisfies Record<keyof SupervisorOptions, true>);
    const documented = [
      ...tableAfter('docs/options.md', '## Options'),
      ...tableAfter('docs/options.md', '| Hook or setting | Meaning |'),
    ]
      // `authenticate(request)` names the hook `authenticate`.
      .map((row) => names(row[0] ?? '')[0]?.replace(/\(.*$/, ''));
    expect(documented.sort()).toEqual(options.sort());
  });

  it('name every field of the cluster option, and no other', () => {
    const fields = Object.keys({
      redis: true,
      store: true,
      nodeId: true,
      leaseTtlMs: true,
      reaperIntervalMs: true,
      keyPrefix: true,
      commandTimeoutMs: true,
      onStoreUnavailable: true,
    } satisfies Record<keyof ClusterOptions, true>);
    const documented = tableAfter('docs/cluster.md', '| `cluster` field | Default | Meaning |').map(
      (row) => names(row[0] ?? '')[0],
    );
    expect(documented.sort()).toEqual(fields.sort());
  });
});

describe("the README's metrics table", () => {
  it('names every metric registerMetrics() registers, and no other', () => {
    const documented = tableAfter(
      'docs/observing.md',
      '| Metric (prefix `ws_supervisor_`) | Type | Labels | Source |',
    ).map((row) => names(row[0] ?? '')[0]);
    expect(documented.sort()).toEqual(Object.values(metricNames).sort());
  });

  it('gives each metric the type and the label names it is registered with', async () => {
    const rows = tableAfter(
      'docs/observing.md',
      '| Metric (prefix `ws_supervisor_`) | Type | Labels | Source |',
    );
    const registry = new Registry();
    // In cluster mode, so that the cluster_ gauges are registered too.
    const store = new MemoryBook(() => Date.now()).store('node-0', 60_000);
    const supervisor = createSupervisor({
      authenticate: () => ({ userId: 'u' }),
      cluster: { store, nodeId: 'node-0' },
    });
    onTestFinished(() => supervisor.shutdown());
    const unregister = registerMetrics(supervisor, { registry, prefix: '' });
    try {
      const registered = (await registry.getMetricsAsJSON()).map(({ name, type }) => ({
        name,
        type: String(type),
        labels: [
          ...((registry.getSingleMetric(name) as unknown as { labelNames?: string[] }).labelNames ?? []),
        ],
      }));
      // The label names are the cell's names outside parentheses, before a `:` listing their values.
      const documented = rows.map(([metric = '', type = '', labels = '']) => ({
        name: names(metric)[0],
        type,
        labels: names(labels.replace(/\([^)]*\)/g, '').split(':')[0] ?? ''),
      }));
      const byName = (a: { name: string | undefined }, b: { name: string | undefined }) =>
        (a.name ?? '') < (b.name ?? '') ? -1 : 1;
      expect(documented.sort(byName)).toEqual(registered.sort(byName));
    } finally {
      unregister();
    }
  });
});

describe("the README's table of events", () => {
  it('names every event with every field of its payload, and no other', () => {
    const events = {
      admitted: Object.keys({
        connectionId: true,
        userId: true,
        correlationId: true,
      } satisfies Record<keyof AdmittedEvent, true>),
      rejected: Object.keys({
        reason: true,
        status: true,
        userId: true,
        message: true,
        via: true,
        retryAfterMs: true,
        remoteAddress: true,
        userAgent: true,
        correlationId: true,
        live: true,
        limit: true,
      } satisfies Record<keyof RejectedEvent, true>),
      evicted: Object.keys({ connectionId: true, userId: true, cause: true } satisfies Record<
        keyof EvictedEvent,
        true
      >),
      disposed: Object.keys({
        connectionId: true,
        userId: true,
        reason: true,
        closeCode: true,
        httpStatus: true,
        lifetimeMs: true,
        cleanupMs: true,
        socketError: true,
        opened: true,
      } satisfies Record<keyof DisposedEvent, true>),
      capacity: Object.keys({
        userId: true,
        direction: true,
        level: true,
        band: true,
        live: true,
        limit: true,
      } satisfies Record<keyof CapacityEvent, true>),
      store: Object.keys({ breaker: true, shard: true, nodeId: true, policy: true } satisfies Record<
        keyof StoreEvent,
        true
      >),
      incarnation: Object.keys({
        nodeId: true,
        incarnation: true,
        previous: true,
        cause: true,
      } satisfies Record<keyof IncarnationEvent, true>),
      offline: Object.keys({ userId: true, leftAt: true, offlineAt: true } satisfies Record<
        keyof OfflineEvent,
        true
      >),
      reaped: Object.keys({
        nodeId: true,
        incarnation: true,
        removed: true,
        offline: true,
      } satisfies Record<keyof ReapedEvent, true>),
    } satisfies Record<keyof SupervisorEventMap, string[]>;
    const documented = Object.fromEntries(
      tableAfter('docs/observing.md', '| Event | Fields |').map((row) => [
        names(row[0] ?? '')[0],
        // The field names only: the links in a cell are not backticked.
        names(row[1] ?? '').sort(),
      ]),
    );
    expect(documented).toEqual(
      Object.fromEntries(Object.entries(events).map(([name, fields]) => [name, [...fields].sort()])),
    );
  });
});

describe("the README's table of what the client does after a close", () => {
  const rows = tableAfter('docs/client.md', '| Close code | `kind` | The client |');
  /** What a row's last cell says the client does, by its first words, as the machine's disposition. */
  const dispositionSaid = (text: string) =>
    // The state the client is in (`client.state`), as the row says it: `suspended`, not "waits",
    // which read as its `waiting` state (a delay runs, then it connects).
    text.startsWith('Is `suspended` (`client.state`), with nothing scheduled')
      ? 'suspend-until-active'
      : text.startsWith('Reconnects at once')
        ? 'reconnect-now'
        : text.startsWith('Reconnects at a uniformly random moment')
          ? 'spread'
          : text.startsWith('Backs off')
            ? 'backoff'
            : text.startsWith('Does not retry')
              ? 'suspend-until-resumed'
              : `unrecognised: ${text}`;

  it.each(rows.map((row) => [row[0] ?? '', row]))('%s', (_codes, [codes = '', kinds = '', does = '']) => {
    const bold = [...codes.matchAll(/\*\*(\d{4})\*\*/g)].map((match) => Number(match[1]));
    expect(bold.length, 'the row names a close code').toBeGreaterThan(0);
    for (const code of bold) {
      expect(names(kinds), `${code}'s kind`).toContain(closeKindOf(code));
      expect(dispositionOf(code), `what the client does after ${code}`).toBe(dispositionSaid(does));
    }
  });

  it('names every code the client has a rule for, and every kind', () => {
    const documented = rows.flatMap(([codes = '']) =>
      [...codes.matchAll(/\*\*(\d{4})\*\*/g)].map((match) => Number(match[1])),
    );
    expect(Object.values(ClientCloseCodes).filter((code) => !documented.includes(code))).toEqual([]);
    const kinds = new Set([...Object.values(ClientCloseCodes).map(closeKindOf), closeKindOf(3000)]);
    expect([...kinds].filter((kind) => !rows.some(([, cell = '']) => names(cell).includes(kind)))).toEqual(
      [],
    );
  });
});

describe("the README's list of the client's events", () => {
  it('names every event with every field of its payload, and no other', () => {
    const events = {
      open: Object.keys({ url: true } satisfies Record<keyof ClientEvents['open'], true>),
      message: Object.keys({ data: true } satisfies Record<keyof ClientEvents['message'], true>),
      close: Object.keys({
        code: true,
        reason: true,
        retryAfterMs: true,
        refusal: true,
        reconnectWithinMs: true,
        wasClean: true,
        opened: true,
        kind: true,
        next: true,
        givenUp: true,
        errorCode: true,
        cause: true,
      } satisfies Record<keyof ClientEvents['close'], true>),
      reconnecting: Object.keys({ delayMs: true, attempt: true } satisfies Record<
        keyof ClientEvents['reconnecting'],
        true
      >),
      state: Object.keys({ state: true, previous: true } satisfies Record<keyof ClientEvents['state'], true>),
      error: Object.keys({ error: true } satisfies Record<keyof ClientEvents['error'], true>),
    } satisfies Record<keyof ClientEvents, string[]>;
    // "the events are `open` (`{ url }`…), `message` (`{ data }`: …), … and `state` (`{ state, previous }`)."
    const section =
      readPage('docs/client.md')
        .split(/^## Client$/m)[1]
        ?.split(/^## /m)[0] ?? '';
    const sentence = section.slice(section.indexOf('the events are')).split(/\.\s/)[0] ?? '';
    const documented = Object.fromEntries(
      // An event's name, then its parentheses (skipped whole: the names inside are not events).
      [...sentence.matchAll(/`(\w+)`(?:\s+\(([^()]*)\))?/g)].map((match) => [
        match[1],
        (match[2]?.match(/^`\{([^}]*)\}`/)?.[1] ?? '')
          .split(',')
          .map((field) => field.trim())
          .filter((field) => field !== '')
          .sort(),
      ]),
    );
    expect(documented).toEqual(
      Object.fromEntries(Object.entries(events).map(([name, fields]) => [name, [...fields].sort()])),
    );
  });
});

describe("the README's list of what ws-supervisor/client exports", () => {
  it('names every value the client module exports, and no other', async () => {
    // "**What it exports** (…), as values:" and then a bullet per export, "- `name(…)`: what for".
    const section =
      readPage('docs/client.md')
        .split(/^## Client$/m)[1]
        ?.split(/^#+ /m)[0] ?? '';
    const list = section.slice(section.indexOf('**What it exports**')).split('\n\n')[1] ?? '';
    const documented = [...list.matchAll(/^- (.*?):/gm)].flatMap(([, names]) =>
      [...(names ?? '').matchAll(/`(\w+)/g)].map((match) => match[1]),
    );
    const client = await import('../../src/client/index.js');
    expect(documented.sort()).toEqual(Object.keys(client).sort());
  });
});

describe("the README's table of refusals a client can read", () => {
  const rows = tableAfter('docs/admission.md', '### Refusals a client can read');
  const bold = (cell: string) => [...cell.matchAll(/\*\*(\d+)\*\*/g)].map((match) => Number(match[1]));

  it('gives each close code as 4000 + the HTTP status it stands for', () => {
    for (const [code = '', status = '', when = ''] of rows.filter(([code = '']) => bold(code).length > 0)) {
      // The one exception: a handshake a newer login replaced gets the close a live one gets.
      const replaced = bold(code)[0] === 4001 && when.includes('`evicted: replaced`');
      expect(bold(code), `the row of ${code}`).toEqual([replaced ? 4001 : closeCodeFor(Number(status))]);
      if (replaced) expect(status).toBe('403');
    }
  });

  it('has a row for every status a refusal with a valid handshake is answered with', () => {
    // The statuses of the close-code table's rows for the `rejected` reasons that a close frame can carry.
    const closeCodeRows = tableAfter('docs/rules.md', '### Close codes and HTTP statuses');
    const closable = REJECT_REASONS.filter(
      (reason) => reason !== 'bad-handshake' && reason !== 'socket-closed',
    );
    const statuses = new Set(
      closeCodeRows
        .filter(([, , reasons = '']) => closable.some((reason) => names(reasons).includes(reason)))
        .flatMap(([, answer = '']) => bold(answer)),
    );
    expect([...statuses].sort()).toEqual([400, 401, 403, 429, 500, 503]);
    const listed = rows.flatMap(([code = '']) => bold(code));
    expect([...statuses].map(closeCodeFor).filter((code) => !listed.includes(code))).toEqual([]);
  });
});

describe("the README's row of the onClose hook", () => {
  it('names every field of what onClose receives, and no other', () => {
    const fields = Object.keys({
      reason: true,
      closeCode: true,
      httpStatus: true,
      lifetimeMs: true,
      cleanupMs: true,
      socketError: true,
      opened: true,
    } satisfies Record<keyof DisposeInfo, true>);
    const row = tableAfter('docs/options.md', '| Hook or setting | Meaning |').find(([hook = '']) =>
      hook.startsWith('`onClose('),
    );
    const documented = (row?.[0]?.match(/\{([^}]*)\}/)?.[1] ?? '').split(',').map((field) => field.trim());
    expect(documented.sort()).toEqual(fields.sort());
  });
});

describe("the README's table of the dashboard's options", () => {
  const rows = tableAfter('docs/observing.md', '## Dashboard');

  it('names every option createDashboard() takes, and no other', () => {
    let allowed = '';
    try {
      resolveDashboardOptions({ notAnOption: 1 } as never);
    } catch (error) {
      allowed = /\(allowed: ([^)]*)\)/.exec((error as Error).message)?.[1] ?? '';
    }
    expect(allowed).not.toBe('');
    expect(rows.map(([name = '']) => names(name)[0]).sort()).toEqual(allowed.split(', ').sort());
  });

  it('gives each default the options resolve to', () => {
    const open = () => true;
    const resolved = resolveDashboardOptions({ authorize: open }) as unknown as Record<string, unknown>;
    const said = Object.fromEntries(rows.map(([name = '', value = '']) => [names(name)[0], value]));
    expect(said.basePath).toBe(`\`'${resolved.basePath}'\``);
    // No default: without it, createDashboard() throws.
    expect(resolved.authorize).toBe(open);
    expect(() => resolveDashboardOptions({} as never)).toThrow(/authorize is required/);
    expect(said.authorize).toBe('required');
    expect(said.onError).toBe('`console.error`');
    expect(resolved.clock).toBeUndefined();
    expect(said.clock).toBe('real timers');
    for (const name of [
      'maxStreams',
      'pollMs',
      'batchMs',
      'keepAliveMs',
      'activityCapacity',
      'maxUsers',
      'trackedUsers',
    ]) {
      expect(said[name], name).toBe(String(resolved[name]));
    }
    // "at least maxUsers": a smaller trackedUsers is raised to it.
    expect(resolveDashboardOptions({ authorize: open, maxUsers: 80, trackedUsers: 10 })).toMatchObject({
      trackedUsers: 80,
    });
  });
});
