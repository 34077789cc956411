/**
 * The supervisor's events call their listeners as Node's EventEmitter does:
 * the ones registered when the emit began, each once.
 */
import { describe, expect, it } from 'vitest';
import type { SupervisorError } from '../../src/errors.js';
import { SupervisorEvents } from '../../src/events.js';

const stored = (breaker: 'open' | 'closed') => ({ breaker, nodeId: 'n', policy: 'local' as const });

describe('SupervisorEvents', () => {
  it('a listener added by a listener hears the next event, not the one being emitted', () => {
    const events = new SupervisorEvents(() => {});
    const heard: string[] = [];
    events.on('store', (event) => {
      heard.push(`first ${event.breaker}`);
      if (event.breaker === 'open') events.on('store', (later) => heard.push(`added ${later.breaker}`));
    });
    events.emit('store', stored('open'));
    expect(heard).toEqual(['first open']);
    events.emit('store', stored('closed'));
    expect(heard).toEqual(['first open', 'first closed', 'added closed']);
  });

  it('a listener removed during an emit still hears that emit, and none after it', () => {
    const events = new SupervisorEvents(() => {});
    const heard: string[] = [];
    let offSecond = () => {};
    events.on('store', () => {
      heard.push('first');
      offSecond();
    });
    offSecond = events.on('store', () => heard.push('second'));
    events.emit('store', stored('open'));
    events.emit('store', stored('closed'));
    expect(heard).toEqual(['first', 'second', 'first']);
  });

  it('calls a listener added twice once, and its undo removes it; a throwing one is reported, the rest still run', () => {
    const reported: SupervisorError[] = [];
    const events = new SupervisorEvents((error) => reported.push(error));
    const heard: string[] = [];
    const listener = () => heard.push('once');
    const off = events.on('store', listener);
    events.on('store', listener);
    events.on('store', () => {
      throw new Error('listener bug');
    });
    events.on('store', () => heard.push('after the throw'));
    expect(events.listenerCount()).toBe(3);
    events.emit('store', stored('open'));
    expect(heard).toEqual(['once', 'after the throw']);
    expect(reported).toEqual([
      expect.objectContaining({ code: 'WSSUP_APP_HOOK_FAILED', hook: "on('store')" }),
    ]);
    off();
    expect(events.listenerCount()).toBe(2);
    events.emit('store', stored('closed'));
    expect(heard).toEqual(['once', 'after the throw', 'after the throw']);
  });

  it('an undo called again, after the same listener was added anew, leaves that new registration alone', () => {
    const events = new SupervisorEvents(() => {});
    const heard: string[] = [];
    const listener = (event: { breaker: string }) => heard.push(event.breaker);
    const off = events.on('store', listener);
    off();
    // The same function added again (a module that starts again), then the old undo called
    // a second time (a cleanup that runs twice): it removed the new registration too.
    const offAgain = events.on('store', listener);
    off();
    events.emit('store', stored('open'));
    expect(heard).toEqual(['open']);
    offAgain();
    events.emit('store', stored('closed'));
    expect(heard).toEqual(['open']);
  });
});
