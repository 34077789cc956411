/**
 * Optional peer dependencies (issue 13): elkjs is needed only for SVG charts.
 * Missing, it must be a MissingPeerError (WSSUP_MISSING_PEER) naming the
 * package, not a bare ERR_MODULE_NOT_FOUND. The missing case is a real import
 * of a package that is not installed; the whole path (renderChart and the CLI
 * in an app installed without elkjs) is in test/packaging/.
 */
import { describe, expect, it } from 'vitest';
import { MissingPeerError, SupervisorError } from '../../src/index.js';
import {
  assertOptionalPeerInstalled,
  importOptionalPeer,
  requireOptionalPeer,
} from '../../src/optional-peer.js';

describe('importOptionalPeer', () => {
  it('turns a package that is not installed into WSSUP_MISSING_PEER naming it', async () => {
    const loading = importOptionalPeer('wssup-not-installed', 'wssup-not-installed/lib/x.js', 'SVG charts');
    const error = await loading.catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(MissingPeerError);
    expect(error).toBeInstanceOf(SupervisorError);
    expect(error).toMatchObject({
      name: 'MissingPeerError',
      code: 'WSSUP_MISSING_PEER',
      peer: 'wssup-not-installed',
      feature: 'SVG charts',
    });
    expect((error as Error).message).toContain('npm install wssup-not-installed');
    expect((error as { cause?: { code?: string } }).cause?.code).toBe('ERR_MODULE_NOT_FOUND');
  });

  it('also for a CommonJS resolution failure (MODULE_NOT_FOUND)', async () => {
    const load = () =>
      Promise.reject(Object.assign(new Error('Cannot find module'), { code: 'MODULE_NOT_FOUND' }));
    await expect(
      importOptionalPeer('elkjs', 'elkjs/lib/elk.bundled.js', 'SVG charts', load),
    ).rejects.toMatchObject({
      code: 'WSSUP_MISSING_PEER',
      peer: 'elkjs',
    });
  });

  it('passes any other failure through unchanged', async () => {
    const broken = new SyntaxError('Unexpected token');
    const load = () => Promise.reject(broken);
    await expect(importOptionalPeer('elkjs', 'elkjs/lib/elk.bundled.js', 'SVG charts', load)).rejects.toBe(
      broken,
    );
  });

  it('returns the module when it is installed (elkjs is a devDependency)', async () => {
    const elk = await importOptionalPeer<{ default: { default: unknown } }>(
      'elkjs',
      'elkjs/lib/elk.bundled.js',
      'SVG charts',
    );
    expect(typeof elk.default.default).toBe('function');
  });
});

describe('requireOptionalPeer (synchronous, for CommonJS peers: prom-client)', () => {
  it('turns a package that is not installed into WSSUP_MISSING_PEER naming it', () => {
    let error: unknown;
    try {
      requireOptionalPeer('wssup-not-installed', 'wssup-not-installed', 'Prometheus metrics');
    } catch (failure) {
      error = failure;
    }
    expect(error).toBeInstanceOf(MissingPeerError);
    expect(error).toMatchObject({ code: 'WSSUP_MISSING_PEER', peer: 'wssup-not-installed' });
    expect((error as Error).message).toMatch(/^Prometheus metrics: .*npm install wssup-not-installed/);
    expect((error as { cause?: { code?: string } }).cause?.code).toBe('MODULE_NOT_FOUND');
  });

  it('passes any other failure through unchanged', () => {
    const broken = new SyntaxError('Unexpected token');
    const load = () => {
      throw broken;
    };
    expect(() => requireOptionalPeer('prom-client', 'prom-client', 'Prometheus metrics', load)).toThrow(
      broken,
    );
  });

  it("returns the module, the same instance as an app's import (prom-client is a devDependency)", async () => {
    const required = requireOptionalPeer<{ Registry: unknown }>(
      'prom-client',
      'prom-client',
      'Prometheus metrics',
    );
    const imported = await import('prom-client');
    expect(required.Registry).toBe(imported.Registry);
  });
});

describe('assertOptionalPeerInstalled (looks a peer up without loading it)', () => {
  it('throws WSSUP_MISSING_PEER for a package that is not installed', () => {
    let error: unknown;
    try {
      assertOptionalPeerInstalled('wssup-not-installed', 'Cluster mode (a Redis slot store)');
    } catch (failure) {
      error = failure;
    }
    expect(error).toBeInstanceOf(MissingPeerError);
    expect(error).toMatchObject({ code: 'WSSUP_MISSING_PEER', peer: 'wssup-not-installed' });
    expect((error as Error).message).toContain('npm install wssup-not-installed');
    expect((error as { cause?: { code?: string } }).cause?.code).toBe('MODULE_NOT_FOUND');
  });

  it('passes for an installed package (redis is a devDependency)', () => {
    expect(() => assertOptionalPeerInstalled('redis', 'Cluster mode (a Redis slot store)')).not.toThrow();
  });

  it('leaves any other lookup failure to the import (a package without a CommonJS entry may still import)', () => {
    const esmOnly = () => {
      throw Object.assign(new Error('No "exports" main defined'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
    };
    expect(() =>
      assertOptionalPeerInstalled('redis', 'Cluster mode (a Redis slot store)', esmOnly),
    ).not.toThrow();
  });
});

describe('MissingPeerError', () => {
  // A feature's name may be singular or plural ("SVG charts", "Cluster mode"): the message
  // names it without a verb that must agree with it ("Cluster mode … need" read wrong).
  it.each([
    ['redis', 'Cluster mode (a Redis slot store)'],
    ['elkjs', 'SVG charts'],
  ])('says what is missing and what to run, whatever the feature (%s)', (peer, feature) => {
    expect(new MissingPeerError(peer, feature, undefined).message).toBe(
      `${feature}: the optional peer dependency "${peer}" is not installed; run npm install ${peer}.`,
    );
  });
});
