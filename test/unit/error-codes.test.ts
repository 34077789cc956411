/**
 * Codes are API: the README's table and the code must list the same ones, and
 * each listed code must still be produced by src/ (a code nothing throws any
 * more is a row that lies). The error classes are named in their code's row.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AppHookError,
  ErrorCodes,
  InvalidOptionError,
  MissingPeerError,
  SlotStoreUnavailableError,
  type SupervisorError,
} from '../../src/index.js';
import { ShutdownStuckError, SocketClosedError, TestLeakError } from '../../src/testing/index.js';
import { readPage } from '../helpers/docs.js';

const readme = readPage('docs/rules.md');

function documentedCodes(): string[] {
  const section = readme.split(/^## Error codes$/m)[1]?.split(/^## /m)[0] ?? '';
  return [...section.matchAll(/^\|\s*`(WSSUP_[A-Z_]+)`\s*\|/gm)].map((match) => match[1] as string);
}

/** Every .ts file of the runtime (src/, machines/), by path, with its text. */
function sources(): Map<string, string> {
  const root = new URL('../../', import.meta.url);
  const files = new Map<string, string>();
  for (const dir of ['src', 'machines']) {
    for (const entry of readdirSync(new URL(dir, root), { recursive: true, encoding: 'utf8' })) {
      if (entry.endsWith('.ts'))
        files.set(`${dir}/${entry}`, readFileSync(new URL(`${dir}/${entry}`, root), 'utf8'));
    }
  }
  return files;
}

/** Each subclass of SupervisorError in src/ with the code its constructor passes to super(). */
function errorClasses(files: Map<string, string>): Map<string, string> {
  const classes = new Map<string, string>();
  for (const text of files.values()) {
    for (const match of text.matchAll(
      /class (\w+) extends SupervisorError \{[\s\S]*?super\(\s*'(WSSUP_[A-Z_]+)'/g,
    )) {
      classes.set(match[1] as string, match[2] as string);
    }
  }
  return classes;
}

/** The README row of `code`. */
function rowOf(code: string): string {
  return readme.match(new RegExp(`^\\|\\s*\`${code}\`\\s*\\|.*$`, 'm'))?.[0] ?? '';
}

/** One instance of each error class. */
function instances(): SupervisorError[] {
  return [
    new InvalidOptionError('preset', "'production'", 'prod'),
    new AppHookError('onOpen', new Error('boom'), 'connection-id'),
    new MissingPeerError('elkjs', 'SVG charts', new Error('not found')),
    new SlotStoreUnavailableError('redis timed out', { cause: new Error('timeout') }),
    new SocketClosedError({
      closeCode: 4001,
      closeReason: 'evicted: idle',
      waitedFor: 1,
      receivedInAll: 0,
      cause: new Error('read ECONNRESET'),
    }),
    new TestLeakError(['stats().connections is 1, not 0'], []),
    new ShutdownStuckError(['#1 ws://127.0.0.1:1/'], 60_000),
  ];
}

describe('error codes', () => {
  it('the README documents exactly the codes in src/errors.ts', () => {
    expect(documentedCodes().sort()).toEqual(Object.keys(ErrorCodes).sort());
  });

  it("the README names ErrorCodes by its table, as the lookup of a code's description", () => {
    const section = readme.slice(readme.indexOf('## Error codes'), readme.indexOf('| Code |'));
    expect(section).toContain('`ErrorCodes` (exported from `ws-supervisor`)');
    expect(section).toContain('`ErrorCodes[error.code]`');
  });

  // The lookup the README names must answer for every error the package makes: each code
  // src/ and machines/ pass to an error (a SupervisorError or a class's super()), and each
  // class's instance, is a row of the table at run time (not only in the ErrorCode type).
  it('ErrorCodes[error.code] describes every code src/ makes an error with', () => {
    const made = new Set<string>();
    for (const text of sources().values()) {
      for (const match of text.matchAll(/(?:new SupervisorError|super)\(\s*'(WSSUP_[A-Z_]+)'/g))
        made.add(match[1] as string);
    }
    for (const error of instances()) made.add(error.code);
    // The scan reads what it is meant to: the plain errors' codes, and the classes'.
    expect(made).toContain('WSSUP_INVALID_ARGUMENT');
    expect(made).toContain('WSSUP_MISSING_PEER');
    const lookup = ErrorCodes as Record<string, string | undefined>;
    const undescribed = [...made].filter((code) => !Object.hasOwn(lookup, code) || !lookup[code]);
    expect(undescribed).toEqual([]);
  });

  it('every code is namespaced and described', () => {
    for (const [code, meaning] of Object.entries(ErrorCodes)) {
      expect(code).toMatch(/^WSSUP_[A-Z_]+$/);
      expect(meaning.length).toBeGreaterThan(20);
    }
  });

  // ErrorCodes is API that an app may hand around (a lookup of a code's meaning): a write or
  // a delete through it must fail, not change the table for every supervisor in the process.
  it('the table cannot be changed by a caller', () => {
    const table = ErrorCodes as Record<string, string>;
    const meaning = ErrorCodes.WSSUP_INTERNAL;
    expect(() => {
      table.WSSUP_INTERNAL = 'nothing to see';
    }).toThrow(TypeError);
    expect(() => delete table.WSSUP_INTERNAL).toThrow(TypeError);
    expect(() => {
      table.WSSUP_NEW = 'a code nothing throws';
    }).toThrow(TypeError);
    expect(ErrorCodes.WSSUP_INTERNAL).toBe(meaning);
    expect(Object.keys(ErrorCodes)).not.toContain('WSSUP_NEW');
  });

  it('every code is still produced by src/: named where an error is made, or by an error class src/ constructs', () => {
    const files = sources();
    const classes = errorClasses(files);
    const notProduced = Object.keys(ErrorCodes).filter((code) => {
      const named = [...files].some(([path, text]) => path !== 'src/errors.ts' && text.includes(`'${code}'`));
      const constructed = [...classes].some(
        ([name, classCode]) =>
          classCode === code && [...files.values()].some((text) => text.includes(`new ${name}(`)),
      );
      return !named && !constructed;
    });
    expect(notProduced).toEqual([]);
  });

  // onError's type (ReportedError) narrows by code to these classes: a plain SupervisorError
  // made with one of their codes would lack the fields the type promises (`hook`, `option`, …).
  it('the codes of AppHookError, InvalidOptionError and MissingPeerError are made only by their classes', () => {
    const plain =
      /new SupervisorError\(\s*'(WSSUP_APP_HOOK_FAILED|WSSUP_INVALID_OPTION|WSSUP_MISSING_PEER)'/g;
    const found = [...sources()].flatMap(([path, text]) =>
      [...text.matchAll(plain)].map((match) => `${path}: ${match[1]}`),
    );
    expect(found).toEqual([]);
  });

  it('the README names each error class in its code’s row', () => {
    const classes = errorClasses(sources());
    // The test reads the classes it is meant to: the four of src/errors.ts, the store's, the inbox's and serveForTest()'s.
    expect([...classes.keys()].sort()).toEqual([
      'AppHookError',
      'InvalidOptionError',
      'MissingPeerError',
      'ShutdownStuckError',
      'SlotStoreUnavailableError',
      'SocketClosedError',
      'TestLeakError',
    ]);
    for (const [name, code] of classes) expect(rowOf(code), code).toContain(`\`${name}\``);
  });

  it('the README lists the fields each error class carries, and no other', () => {
    for (const error of instances()) {
      // What Error and SupervisorError give every error are not the class's own.
      const fields = Object.getOwnPropertyNames(error)
        .filter((field) => !['stack', 'message', 'name', 'code'].includes(field))
        .sort();
      // "(`InvalidOptionError` with `option`, `allowed`, `received`)", or "(`SlotStoreUnavailableError`, with `cause`)".
      const listed = rowOf(error.code).match(new RegExp(`\`${error.name}\`,? with ((?:\`\\w+\`(?:, )?)+)`));
      const documented = [...(listed?.[1] ?? '').matchAll(/`(\w+)`/g)].map((match) => match[1]).sort();
      expect(documented, `the fields of ${error.name} in the row of ${error.code}`).toEqual(fields);
    }
  });
});
