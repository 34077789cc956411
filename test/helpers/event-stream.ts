/**
 * A server-sent event stream (the dashboard's) read as text over a real HTTP
 * request; the request is destroyed when the test ends.
 */
import { once } from 'node:events';
import { get, type IncomingMessage } from 'node:http';
import { expect, onTestFinished, vi } from 'vitest';
import { ioWait } from './server.js';

/** An event stream read as text; `until` waits for the text so far to match. */
export async function openEvents(url: string) {
  const request = get(url);
  onTestFinished(() => void request.destroy());
  const [response] = (await once(request, 'response')) as [IncomingMessage];
  let text = '';
  response.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  const ended = once(response, 'end');
  return {
    response,
    ended,
    text: () => text,
    until: (pattern: RegExp) => vi.waitFor(() => expect(text).toMatch(pattern), ioWait),
    /** The data of the last `event: <name>` message so far. */
    last<T>(name: string): T {
      const all = [...text.matchAll(new RegExp(`event: ${name}\\ndata: (.*)\\n\\n`, 'g'))];
      return JSON.parse(all.at(-1)?.[1] ?? 'null') as T;
    },
  };
}
