/**
 * ws-supervisor/client in a React app (docs/client.md, "React"): a hook that gives a component
 * one client, created in an effect and closed in its cleanup, and a component that listens to
 * it. Plain TypeScript, no JSX. test/browser/react-strict-mode.test.ts bundles it with esbuild
 * and mounts it under <StrictMode> in Chromium against a server of limit 1 with
 * `refuse: 'close'`; test/examples/readme-snippets.test.ts checks that docs/client.md quotes the
 * region below as it is here. Not a program: it runs in a page, so it has no command of its own.
 */
// #region react
import { useEffect, useRef, useState } from 'react';
import { type Client, createClient } from 'ws-supervisor/client';

/** One client for the component's life; undefined until the effect has run. */
export function useClient(url: string): Client | undefined {
  const [client, setClient] = useState<Client>();
  // The instance id outlives StrictMode's second effect (refs are kept): the second client is
  // the first one coming back, and the server replaces the first's connection instead of
  // counting it against the user's limit.
  const instance = useRef<string>(undefined);
  useEffect(() => {
    const next = createClient({ url, instance: instance.current });
    instance.current = next.instance;
    setClient(next);
    return () => next.close();
  }, [url]);
  return client;
}

/** Listening: on() returns its remover, the effect's cleanup. Pass a stable onMessage (useCallback). */
export function useMessages(client: Client | undefined, onMessage: (data: unknown) => void): void {
  useEffect(() => client?.on('message', ({ data }) => onMessage(data)), [client, onMessage]);
}
// #endregion react
