/**
 * Helpers for the refusal tests (issue 11): a refused client read the way a
 * user would check it, over HTTP (status, headers, body) or as the close
 * frame of `refuse: 'close'` (code and reason, as a browser's CloseEvent has them).
 */
import { once } from 'node:events';
import { onTestFinished } from 'vitest';
import WebSocket from 'ws';

export interface HttpRefusal {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Opens a client the server must refuse over HTTP; resolves with the answer. */
export function httpRefusal(url: string, options: WebSocket.ClientOptions = {}): Promise<HttpRefusal> {
  const ws = new WebSocket(url, options);
  onTestFinished(() => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('expected an HTTP refusal, but the socket opened')));
    ws.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

/** What a client refused with a close frame sees: the socket opens, then closes with this. */
export interface CloseRefusal {
  code: number;
  reason: string;
  /** The hint parsed the way the client helper parses it, in seconds. */
  retryAfter: number | undefined;
}

/** Opens a client the server must refuse with a close frame (`refuse: 'close'`). */
export async function closeRefusal(
  url: string,
  options: WebSocket.ClientOptions = {},
): Promise<CloseRefusal> {
  const ws = new WebSocket(url, options);
  onTestFinished(() => ws.terminate());
  ws.once('unexpected-response', (_request, response) => {
    ws.emit('error', new Error(`expected a close frame, got HTTP ${response.statusCode}`));
  });
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  const text = reason.toString();
  const hint = / retry-after=(\d+)$/.exec(text)?.[1];
  return { code, reason: text, retryAfter: hint === undefined ? undefined : Number(hint) };
}
