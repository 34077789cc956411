/**
 * Answers of an app's own SlotStore that break its contract (issue 12): the
 * store is JavaScript, or reached through a cast, so its types promise
 * nothing at run time. Each method's first such answer is reported as
 * `WSSUP_INVALID_OPTION` (`cluster.store`), naming what the contract asks and
 * what came; the later ones are not, since the same method is asked at every
 * admission or send, and one report says all there is to fix.
 */
import { InvalidOptionError } from '../errors.js';

export class StoreContract {
  readonly #report: (operation: string, error: InvalidOptionError) => void;
  readonly #told = new Set<string>();

  constructor(report: (operation: string, error: InvalidOptionError) => void) {
    this.#report = report;
  }

  /** `method` answered `received`, where its contract asks for `allowed` ("its … to answer …"). */
  broken(method: string, allowed: string, received: unknown): void {
    if (this.#told.has(method)) return;
    this.#told.add(method);
    this.#report(method, new InvalidOptionError('cluster.store', allowed, received));
  }
}
