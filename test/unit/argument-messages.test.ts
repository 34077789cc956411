/**
 * A bad argument's message names the value as a user can tell it apart: a string in
 * quotes. `shutdown({ deadlineMs: '1000' })` once said "got 1000", and `attach(server,
 * { path: 'ws' })` "got ws": the value looked right, and the message gave no clue.
 */
import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createDashboard } from '../../src/dashboard/index.js';
import { createSupervisor, Refusal, type Supervisor, SupervisorError } from '../../src/index.js';

const supervisors: Supervisor[] = [];
function supervisor(): Supervisor {
  const made = createSupervisor({ preset: 'test', authenticate: () => 'user' });
  supervisors.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((made) => made.shutdown()));
});

/** What `call` threw: a SupervisorError with WSSUP_INVALID_ARGUMENT. */
function messageOf(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(SupervisorError);
    expect((error as SupervisorError).code).toBe('WSSUP_INVALID_ARGUMENT');
    return (error as Error).message;
  }
  throw new Error('expected a WSSUP_INVALID_ARGUMENT');
}

describe('a bad argument that is a string is quoted in the message', () => {
  it.each<[string, () => unknown, string]>([
    ['disconnectUser close code', () => supervisor().disconnectUser('user', '4000' as never), 'got "4000"'],
    ['shutdown deadlineMs', () => supervisor().shutdown({ deadlineMs: '1000' as never }), 'got "1000"'],
    ['shutdown options', () => supervisor().shutdown('now' as never), 'got "now"'],
    [
      'shutdown pace.windowMs',
      () => supervisor().shutdown({ deadlineMs: 100, pace: { windowMs: '10' as never } }),
      'got "10"',
    ],
    ['shutdown pace.batches', () => supervisor().shutdown({ pace: { batches: '2' as never } }), 'got "2"'],
    ['stats options', () => supervisor().stats('perUser' as never), 'got "perUser"'],
    ['attach path', () => supervisor().attach(createServer(), { path: 'ws' }), 'got "ws"'],
    ['Refusal status', () => new Refusal('403' as never), 'got "403"'],
    ['Refusal retryAfterMs', () => new Refusal(429, 'slow down', { retryAfterMs: '5' as never }), 'got "5"'],
    [
      'createDashboard maxUsers',
      () => createDashboard(supervisor(), { maxUsers: '10' as never }),
      'got "10"',
    ],
  ])('%s', (_, call, says) => {
    expect(messageOf(call)).toContain(says);
  });

  it('and an object is "an object", not [object Object]', () => {
    expect(messageOf(() => supervisor().disconnectUser('user', {} as never))).toContain('got an object');
  });
});
