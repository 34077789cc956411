/**
 * readRefusedBody(): a refused upgrade's body, read bounded (at most its first 64 KiB, within
 * 1 s), as refusal() and serveForTest()'s open() read it: a refusal says a line (the
 * supervisor's is its reason), and a server that is not one (a page, an endless event stream)
 * must neither fill the test's memory nor hold the test until it times out.
 */
import type { IncomingMessage } from 'node:http';
// From node:timers, not the global: fake timers replace the global setTimeout, maybe before this
// module loads (a setup file), and a test's fake timers must not hold the read's bound.
import { clearTimeout as clearRealTimeout, setTimeout as realTimeout } from 'node:timers';

/**
 * The most of a refused upgrade's body that is read: a refusal says a line (the supervisor's is
 * its reason), and a server that is not one (a page, an endless event stream) must not fill the
 * test's memory.
 */
export const REFUSED_BODY_MAX_BYTES = 64 * 1024;
/**
 * How long a refused upgrade's body is read, on real time (node:timers, which fake timers leave
 * real): the supervisor writes it with the status and ends it at once; a body that never ends
 * (another server's `text/event-stream` at that URL) held the read until the test timed out.
 */
export const REFUSED_BODY_WAIT_MS = 1_000;

/**
 * Reads a refused upgrade's body, bounded (REFUSED_BODY_MAX_BYTES, REFUSED_BODY_WAIT_MS): resolves,
 * never rejects, with what came when it ends, fails, is cut short or runs out of room or time.
 */
export function readRefusedBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = realTimeout(() => finish(), REFUSED_BODY_WAIT_MS);
    const finish = () => {
      clearRealTimeout(timer);
      response.off('data', data).off('end', finish).off('close', finish).off('error', finish);
      // stream: true drops a character the cap cut in two, rather than showing it as U+FFFD.
      resolve(new TextDecoder().decode(Buffer.concat(chunks, size), { stream: true }));
    };
    const data = (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const taken = bytes.subarray(0, REFUSED_BODY_MAX_BYTES - size);
      chunks.push(taken);
      size += taken.length;
      if (size >= REFUSED_BODY_MAX_BYTES) finish();
    };
    // 'close' and 'error': a body cut short (the connection reset) ends the read with what came.
    response.on('data', data).on('end', finish).on('close', finish).on('error', finish);
  });
}
