/**
 * createClient()'s durations written in seconds where milliseconds are meant: a refused one
 * that reads as seconds (`backoff: { baseMs: 1000, capMs: 30 }`, `silenceTimeoutMs: 2.5`) is
 * named with the milliseconds probably meant. Small values are never refused nor reported for
 * that alone: tests and soaks run the client on real timers with backoffs of a few ms.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type ClientOptions,
  InvalidOptionError,
  type WebSocketConstructorLike,
} from '../../src/client/index.js';
import { resolveClientOptions } from '../../src/client/options.js';

const WS: WebSocketConstructorLike = WebSocket;
const url = 'ws://127.0.0.1:9/';

function thrownBy(options: Partial<ClientOptions>): InvalidOptionError {
  try {
    resolveClientOptions({ url, WebSocket: WS, ...options });
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return error as InvalidOptionError;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be refused`);
}

describe('createClient(): a refused duration that reads as seconds', () => {
  it.each<[Partial<ClientOptions>, string, string]>([
    [
      { backoff: { baseMs: 1_000, capMs: 30 } },
      'backoff.capMs',
      '30, which looks like seconds: 30 s is 30_000',
    ],
    [{ backoff: { baseMs: 0.5 } }, 'backoff.baseMs', '0.5, which looks like seconds: 0.5 s is 500'],
    [{ silenceTimeoutMs: 2.5 }, 'silenceTimeoutMs', '2.5, which looks like seconds: 2.5 s is 2_500'],
    [{ stableAfterMs: 1.5 }, 'stableAfterMs', '1.5, which looks like seconds: 1.5 s is 1_500'],
    [{ connectTimeoutMs: 0.1 }, 'connectTimeoutMs', '0.1, which looks like seconds: 0.1 s is 100'],
  ])('%j names the milliseconds probably meant', (options, option, receivedAs) => {
    const error = thrownBy(options);
    expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option });
    expect(error.message).toContain(`Invalid option "${option}"`);
    expect(error.message).toContain(`received ${receivedAs}.`);
  });

  it.each<[Partial<ClientOptions>, string]>([
    [{ connectTimeoutMs: 0 }, 'received 0.'],
    [{ closeTimeoutMs: 2 ** 31 }, 'received 2147483648.'],
    [{ backoff: { baseMs: 60_000, capMs: 30_000 } }, 'received 30000.'], // 30_000 s is past setTimeout's ceiling
  ])('but not when it does not: %j', (options, received) => {
    expect(thrownBy(options).message.endsWith(received)).toBe(true);
  });

  it('small values on real timers are accepted as given, without a word', () => {
    const resolved = resolveClientOptions({
      url,
      WebSocket: WS,
      backoff: { baseMs: 1, capMs: 4, factor: 2 },
      shutdownWindowMs: 2,
      connectTimeoutMs: 25,
      stableAfterMs: 1,
      closeTimeoutMs: 2,
      silenceTimeoutMs: 1,
    });
    expect(resolved.machine).toMatchObject({
      backoff: { baseMs: 1, capMs: 4, factor: 2 },
      shutdownWindowMs: 2,
      connectTimeoutMs: 25,
      stableAfterMs: 1,
      closeTimeoutMs: 2,
    });
    expect(resolved.silenceTimeoutMs).toBe(1);
  });
});
