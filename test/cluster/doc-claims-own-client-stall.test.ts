/**
 * docs/cluster-store.md, "Your own client": the recipe's client survives a Redis that stalls
 * past its `socketTimeout`. node-redis's default reconnectStrategy gives up on a socket
 * timeout (socket.js: "By default, do not reconnect on socket timeout"), so a client created
 * with `socketTimeout` and no `reconnectStrategy` was closed for good by one stall of 2 s
 * (`isOpen` false, every command "The client is closed"): the recipe gives a strategy that
 * reconnects after any drop. The options are read from the page itself (its first
 * `createClient({ … })`), and the TLS recipe below it must carry the same strategy.
 * A private redis-server, SIGSTOPped until the client's socket timed out; real sockets.
 */
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { createClient } from 'redis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

const page = readFileSync(new URL('../../docs/cluster-store.md', import.meta.url), 'utf8');
const section = page.slice(page.indexOf('## Your own client'), page.indexOf('## A least-privilege ACL'));

/** The object literal given to the first `createClient(` in `text`, from its `{` to the matching `}`. */
function firstCreateClientOptions(text: string): string {
  const start = text.indexOf('{', text.indexOf('createClient('));
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    if (text[i] === '{') depth += 1;
    if (text[i] === '}' && --depth === 0) return text.slice(start, i + 1);
  }
  throw new Error('no createClient({ … }) in the section');
}

/** The `reconnectStrategy: …` of the recipe, as written (up to the comma or brace that ends it). */
const strategyText = (text: string) =>
  text.match(/reconnectStrategy: \([^)]*\) => [^\n]*?\)(?=\s*[,}])/)?.[0];

describe.runIf(hasRedis)(
  "docs: the app's own node-redis client, through a stall past its socketTimeout",
  () => {
    const redis = usePrivateRedis();

    it('the recipe gives a reconnectStrategy, and the TLS recipe the same one', () => {
      const recipe = firstCreateClientOptions(section);
      expect(strategyText(recipe)).toBeDefined();
      const tls = section.slice(section.indexOf('### Over TLS'));
      expect(strategyText(firstCreateClientOptions(tls).replace(/\s+/g, ' '))).toBe(strategyText(recipe));
    });

    it('the client is open and answers again once Redis does', async () => {
      const options = runInNewContext(`(${firstCreateClientOptions(section)})`) as Record<string, unknown>;
      const client = createClient({ ...options, url: redis.current.url });
      const errors: Error[] = [];
      client.on('error', (error: Error) => errors.push(error));
      await client.connect();
      onTestFinished(() => {
        redis.current.resume();
        if (client.isOpen) client.destroy();
      });
      expect(await client.ping()).toBe('PONG');

      // Stalled until the client's socket timed out (its PING unanswered for socketTimeout).
      const timedOut = new Promise<void>((resolve) =>
        client.on('error', (error: Error) => {
          if (/timeout/i.test(error.message)) resolve();
        }),
      );
      await redis.current.pause();
      await timedOut;
      redis.current.resume();

      if (!client.isReady) {
        // Open, reconnecting: it comes back. Closed for good, nothing would.
        expect(client.isOpen, errors.map((error) => error.message).join('; ')).toBe(true);
        // Not events.once: it rejects on the 'error' each failed reconnect emits.
        await new Promise((resolve) => client.once('ready', resolve));
      }
      expect(await client.ping()).toBe('PONG');
      await client.close();
    });
  },
);
