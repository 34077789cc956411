/**
 * isolateInspect(): the app's `inspect` as the actors get it (src/inspect.ts).
 * No observer means no wrapper at all, so XState skips inspection entirely:
 * the default costs nothing.
 */
import { describe, expect, it } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { AppHookError, type SupervisorError } from '../../src/errors.js';
import { isolateInspect } from '../../src/inspect.js';

const event = { type: '@xstate.event' } as unknown as InspectionEvent;

describe('isolateInspect', () => {
  it('gives XState no observer when the app gave none, or one without next', () => {
    const report = () => {
      throw new Error('not called');
    };
    expect(isolateInspect(undefined, report)).toBeUndefined();
    expect(isolateInspect({}, report)).toBeUndefined();
    expect(isolateInspect({ complete: () => {} }, report)).toBeUndefined();
  });

  it('reports a throw as AppHookError (hook inspect) instead of throwing', () => {
    const reported: SupervisorError[] = [];
    const failure = new Error('inspector bug');
    const inspect = isolateInspect(
      () => {
        throw failure;
      },
      (error) => reported.push(error),
    );
    expect(() => inspect?.(event)).not.toThrow();
    expect(reported).toHaveLength(1);
    expect(reported[0]).toBeInstanceOf(AppHookError);
    expect(reported[0]).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'inspect', cause: failure });
  });

  it('passes each event through, to a function or to an observer with itself as this', () => {
    const seen: unknown[] = [];
    isolateInspect(
      (e) => seen.push(e),
      () => {},
    )?.(event);
    const observer = {
      events: seen,
      next(this: { events: unknown[] }, e: InspectionEvent) {
        this.events.push(e);
      },
    };
    isolateInspect(observer, () => {})?.(event);
    expect(seen).toEqual([event, event]);
  });
});
