/**
 * The heartbeat offer's words (src/heartbeat-message.ts), shared by the server, which reads the
 * request and writes the frame, and the client, which writes the request and reads the frame.
 */
import { describe, expect, it } from 'vitest';
import {
  asksHeartbeat,
  heartbeatOffer,
  heartbeatSilenceMs,
  offeredIntervalMs,
  withHeartbeatParam,
} from '../../src/heartbeat-message.js';

describe('the heartbeat offer', () => {
  it('a frame reads back as its interval; anything else is the app’s message', () => {
    expect(offeredIntervalMs(heartbeatOffer(30_000))).toBe(30_000);
    expect(heartbeatOffer(1_000)).toBe('wssup-heartbeat 1000');
    for (const other of [
      'wssup-heartbeat',
      'wssup-heartbeat ',
      'wssup-heartbeat 0',
      'wssup-heartbeat 01',
      'wssup-heartbeat 1 ',
      'wssup-heartbeat 1.5',
      'wssup-heartbeat soon',
      'hb',
      '',
    ]) {
      expect(offeredIntervalMs(other), other).toBeUndefined();
    }
    expect(offeredIntervalMs(new ArrayBuffer(3))).toBeUndefined();
  });

  it('the silence tolerated: twice the interval and 5 s, at most a timer’s longest delay', () => {
    expect(heartbeatSilenceMs(30_000)).toBe(65_000);
    expect(heartbeatSilenceMs(1_000)).toBe(7_000);
    expect(heartbeatSilenceMs(1e9)).toBe(2_000_005_000);
    expect(heartbeatSilenceMs(2_147_483_647)).toBe(2_147_483_647); // the largest heartbeatIntervalMs
    expect(heartbeatSilenceMs(9_999_999_999)).toBe(2_147_483_647);
  });

  it('the request: appended once, before a fragment, read only as wssup-heartbeat=1', () => {
    expect(withHeartbeatParam('ws://h/')).toBe('ws://h/?wssup-heartbeat=1');
    expect(withHeartbeatParam('ws://h/?a=1')).toBe('ws://h/?a=1&wssup-heartbeat=1');
    expect(withHeartbeatParam('ws://h/?a=1#f')).toBe('ws://h/?a=1&wssup-heartbeat=1#f');
    expect(withHeartbeatParam('ws://h/?wssup-heartbeat=1')).toBe('ws://h/?wssup-heartbeat=1');
    expect(asksHeartbeat('/?user=a&wssup-heartbeat=1')).toBe(true);
    expect(asksHeartbeat('/?user=a&wssup-heartbeat=0')).toBe(false);
    expect(asksHeartbeat('/wssup-heartbeat=1')).toBe(false);
    expect(asksHeartbeat('/?user=a')).toBe(false);
    expect(asksHeartbeat(undefined)).toBe(false);
  });
});
