// The same browser app on lib esnext.disposable too (tsconfig.browser-disposable.json): `await
// using` a client type-checks, its `[Symbol.asyncDispose]` declared from the lib's symbol.
import { createClient } from 'ws-supervisor/client';

export async function scoped(): Promise<void> {
  await using client = createClient({ url: 'ws://127.0.0.1:1/', WebSocket });
  const ended: Promise<void> = client[Symbol.asyncDispose]();
  await ended;
}
