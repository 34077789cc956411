/**
 * The instance id read from an upgrade request's URL (`wssup-instance=<id>.<ms>`) is kept for
 * the connection's life (`connection.instance`, the user supervisor's `instances` book). A
 * review found it kept the whole URL alive: V8 cuts a match out of a longer string as a view
 * onto it (a sliced string), so a 4 KB token in the query stayed reachable, about 4,100 bytes
 * per id instead of a few dozen. Measured as a user of the heap would: the heap used after full
 * collections, with only the ids held.
 *
 * Isolated (test/isolated-files.ts): it sets V8's flags, for the worker's whole process.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { instanceParamOf } from '../../src/client-instance.js';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

const ids = 2_000;
const tokenBytes = 16_000;

describe('an instance id read from the URL', () => {
  it('does not keep the URL it came from alive', () => {
    const kept: string[] = [];
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < ids; i++) {
      const n = String(i).padStart(6, '0');
      const url = `/ws?token=${n}${'x'.repeat(tokenBytes)}&wssup-instance=${'A'.repeat(16)}${n}.1700000000000`;
      const param = instanceParamOf(url);
      if (!('instance' in param) || param.instance === undefined) throw new Error(`no claim in ${url}`);
      kept.push(param.instance.id);
    }
    gc();
    const perId = (process.memoryUsage().heapUsed - before) / ids;
    expect(kept[ids - 1]).toBe(`${'A'.repeat(16)}001999`);
    // Held: 16 KB per id; copied: well under 1 KB (about 50 bytes, and the array's slot).
    expect(perId).toBeLessThan(1_000);
  });
});
