/**
 * The load balancer's probes (Kubernetes' liveness and readiness):
 *
 *   GET /healthz   200 `ok` while this process serves HTTP. Never fails because
 *                  Redis is away or a shutdown is draining: a failed liveness
 *                  probe restarts the pod, which would cut a drain short.
 *   GET /readyz    200 `ok` while the supervisor admits (stats().admission);
 *                  503 with the reason (`shutting-down`, `store-unavailable`)
 *                  while it refuses every upgrade, so the balancer stops
 *                  sending clients here. A full process is still ready. In
 *                  cluster mode, also 503 `no-lease-yet` until ready() has
 *                  resolved (the first lease): a wrong --redis (a typo, a
 *                  wrong password) admits under 'local' as an outage does,
 *                  on this process's own limit, and a fleet of them must not
 *                  pass the probe. After that, an outage follows the policy.
 *
 * Both answer in O(1) and name no user: open, like /stats.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Supervisor } from '../../src/index.js';
import { sendText } from './http.js';

type Route = (request: IncomingMessage, response: ServerResponse) => void;

export const livenessRoute: Route = (_request, response) => sendText(response, 200, 'ok\n');

export function createReadinessRoute(supervisor: Supervisor): Route {
  let leased = false;
  // ready() rejects for a start no retry cures (WSSUP_STORE_FORMAT, a wrong password), and a
  // later call waits again; once shutdown() has begun it rejects at once, and that ends it.
  const awaitLease = (): void =>
    void supervisor.ready().then(
      () => {
        leased = true;
      },
      (error: unknown) => {
        if ((error as { code?: unknown }).code !== 'WSSUP_SHUTTING_DOWN') awaitLease();
      },
    );
  awaitLease();
  return (_request, response) => {
    const { admission } = supervisor.stats();
    if (!admission.admitting) sendText(response, 503, `${admission.reason}\n`);
    else if (!leased) sendText(response, 503, 'no-lease-yet\n');
    else sendText(response, 200, 'ok\n');
  };
}
