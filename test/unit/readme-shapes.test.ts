/**
 * The README says what `stats()`, `userStats()` and `audit()` return in the
 * comments of its "Observing it" snippet (quoted from examples/observing.ts).
 * Those comments are the only list of the fields a user reads, so a field
 * added, renamed or dropped must fail here, naming it, until they say so.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { readPage } from '../helpers/docs.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { allDisposed, expectNoLeaks, startServer } from '../helpers/server.js';

const observing =
  readPage('docs/observing.md')
    .split(/^## Observing it$/m)[1]
    ?.split(/^## /m)[0] ?? '';
/** The snippet's comments, as one line of text. */
const comments = [...observing.matchAll(/^\s*\/\/ ?(.*)$/gm)].map((match) => match[1]).join(' ');

/** A field list as the README writes it (`{ a, b: { c }, d: string[] }`) as a tree of names. */
type Shape = { [field: string]: Shape | true };

/** The first `{ … }` after `label` in the comments, parsed as a Shape. */
function documentedShape(label: string): Shape {
  const start = comments.indexOf(label);
  if (start === -1) throw new Error(`the README's "Observing it" snippet no longer describes ${label}`);
  const tokens = comments.slice(comments.indexOf('{', start)).match(/[{}:,]|[\w[\]]+/g) ?? [];
  let at = 0;
  function object(): Shape {
    const shape: Shape = {};
    at += 1; // {
    while (tokens[at] !== '}') {
      const field = tokens[at++] as string;
      if (tokens[at] === ':') {
        at += 1;
        shape[field] = tokens[at] === '{' ? object() : true;
        if (shape[field] === true) at += 1; // a type, e.g. string[]
      } else {
        shape[field] = true;
      }
      if (tokens[at] === ',') at += 1;
    }
    at += 1; // }
    return shape;
  }
  return object();
}

/** The fields of a value, nested objects (not arrays) as sub-trees. */
function shapeOf(value: object): Shape {
  return Object.fromEntries(
    Object.entries(value).map(([field, inner]) => [
      field,
      typeof inner === 'object' && inner !== null && !Array.isArray(inner) ? shapeOf(inner) : true,
    ]),
  );
}

/** Paths present in one shape and not the other: `resources.closeRefusals`. */
function missing(from: Shape, inside: Shape, prefix = ''): string[] {
  return Object.entries(from).flatMap(([field, inner]) => {
    const other = inside[field];
    if (other === undefined) return [`${prefix}${field}`];
    return inner === true || other === true ? [] : missing(inner, other, `${prefix}${field}.`);
  });
}

function expectSameFields(documented: Shape, returned: object, what: string) {
  const actual = shapeOf(returned);
  expect(missing(actual, documented), `${what} returns fields the README does not list`).toEqual([]);
  expect(missing(documented, actual), `the README lists fields ${what} does not return`).toEqual([]);
}

describe('the README’s “Observing it” snippet', () => {
  it('lists every field of stats(), userStats() and audit(), and no other', async () => {
    const { supervisor, url } = await startServer();
    const ws = new WebSocket(url('olga'));
    onTestFinished(() => ws.terminate());
    await once(ws, 'open');

    expectSameFields(documentedShape('stats(), O(1):'), supervisor.stats(), 'stats()');
    expectSameFields(
      documentedShape('userStats(id), O(1):'),
      supervisor.userStats('olga') ?? {},
      'userStats()',
    );
    expectSameFields(documentedShape('audit(), O(connections)'), supervisor.audit(), 'audit()');

    ws.close();
    await allDisposed(supervisor);
    expectNoLeaks(supervisor);
  });
});

/** The names in a `{ a, b, c }` list that follows `label` in `text` (one level, no nesting). */
function namesAfter(text: string, label: string): string[] {
  const start = text.indexOf(label);
  if (start === -1) throw new Error(`no longer describes ${label}`);
  const open = text.indexOf('{', start);
  const list = text.slice(open + 1, text.indexOf('}', open));
  return list
    .split(',')
    .map((name) => name.trim().replace(/:.*$/, ''))
    .sort();
}

describe('the cluster-mode shapes the README and docs/cluster-store.md give', () => {
  const cluster =
    readPage('docs/cluster.md')
      .split(/^## Running several processes$/m)[1]
      ?.split(/^## /m)[0] ?? '';
  const clusterComments = [...cluster.matchAll(/^\s*\/\/ ?(.*)$/gm)].map((match) => match[1]).join(' ');
  const storeDoc = readFileSync(new URL('../../docs/cluster-store.md', import.meta.url), 'utf8');

  it('stats().cluster, stats({ cluster: true }).global and userStats(id, { cluster: true }) have the fields they list', async () => {
    const store = new MemoryBook(() => Date.now()).store('n1', 15_000);
    const { supervisor, url } = await startServer({ cluster: { store, nodeId: 'n1' } });
    await vi.waitFor(() => expect(supervisor.stats().cluster?.leaseHeld).toBe(true));
    const ws = new WebSocket(url('olga'));
    onTestFinished(() => ws.terminate());
    await once(ws, 'open');

    const local = supervisor.stats().cluster ?? {};
    expect(Object.keys(local).sort()).toEqual(namesAfter(clusterComments, 'cluster: {'));
    expect(Object.keys(local).sort()).toEqual(namesAfter(cluster, '`stats().cluster` says'));

    const { global } = await supervisor.stats({ cluster: true });
    // global: { nodes: [{ nodeId, incarnation, leaseExpiresInMs }], users, connections }
    const said = /global: \{ nodes: \[\{ ([^}]*) \}\], ([^}]*) \}/.exec(clusterComments);
    expect(said, 'the snippet describes global').not.toBeNull();
    const split = (list = '') => list.split(', ').sort();
    // A name ending in ? is optional (superseded: absent when none, as here).
    const listed = split(said?.[2]);
    const required = ['nodes', ...listed.filter((name) => !name.endsWith('?'))].sort();
    const optional = listed.filter((name) => name.endsWith('?')).map((name) => name.slice(0, -1));
    expect(Object.keys(global).sort()).toEqual(expect.arrayContaining(required));
    expect(Object.keys(global).filter((key) => !required.includes(key) && !optional.includes(key))).toEqual(
      [],
    );
    expect(Object.keys(global.nodes[0] ?? {}).sort()).toEqual(split(said?.[1]));

    const book = await supervisor.userStats('olga', { cluster: true });
    expect(Object.keys(book ?? {}).sort()).toEqual(namesAfter(storeDoc, 'cluster: true })` answers'));

    ws.close();
    await allDisposed(supervisor);
    expectNoLeaks(supervisor);
  });
});
