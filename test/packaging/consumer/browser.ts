// A browser app of ws-supervisor/client: the DOM's WebSocket, no @types/node (`types: []`).
// tsconfig.browser.json checks it on lib ES2023 + DOM, without esnext.disposable: the client's
// .d.ts must compile there (skipLibCheck: false), its `[Symbol.asyncDispose]` left out.
import { type Client, createClient } from 'ws-supervisor/client';

const client: Client = createClient({ url: 'ws://127.0.0.1:1/', WebSocket });
client.close();
export const closed: Promise<void> = client.closed;
