/**
 * The modules of src/ (outside src/client/) that ws-supervisor/client imports: the browser
 * pages serve exactly these from dist/src/ (client-page.ts), and test/client/options.test.ts
 * checks them against the client's real import graph, so a module the client starts to
 * import cannot be missing from the pages (every browser test's page would fail to load).
 */
export const clientSharedModules = [
  'client-instance',
  'clock-shape',
  'closest-name',
  'disposal',
  'error-brand',
  'errors',
  'event-waiters',
  'heartbeat-message',
  'inspect',
  'option-habits',
  'plain-options',
  'refusal-text',
  'seconds-like',
  'thenable',
] as const;
