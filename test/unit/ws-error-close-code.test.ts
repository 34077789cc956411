/**
 * wsErrorCloseCode reads the close status ws tags its errors with (see
 * src/transport/ws-error-close-code.ts). The integration tests read it on
 * ws's real errors; here, what it refuses to read.
 */
import { describe, expect, it } from 'vitest';
import { wsErrorCloseCode } from '../../src/transport/ws-error-close-code.js';

const tagged = (code: unknown, description = 'status-code') =>
  Object.assign(new RangeError('Invalid WebSocket frame'), { [Symbol(description)]: code });

describe('wsErrorCloseCode', () => {
  it("reads ws's tag, whichever copy of ws made the symbol", () => {
    expect(wsErrorCloseCode(tagged(1002))).toBe(1002);
    expect(wsErrorCloseCode(tagged(1009))).toBe(1009);
  });

  it('is undefined for an error ws did not tag: a reset, a plain Error, a thrown string', () => {
    expect(wsErrorCloseCode(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(
      undefined,
    );
    expect(wsErrorCloseCode(tagged(1002, 'other'))).toBeUndefined();
    expect(wsErrorCloseCode('text')).toBeUndefined();
    expect(wsErrorCloseCode(null)).toBeUndefined();
  });

  it('is undefined for a tag that is no close code', () => {
    for (const code of [999, 5000, 1002.5, '1002', undefined])
      expect(wsErrorCloseCode(tagged(code))).toBeUndefined();
  });
});
