/**
 * The runtime's books: counters that the machines' own actions keep, so
 * that `stats()` and `userStats()` cost O(1) whatever the number of
 * connections. Each user supervisor publishes its book (`publishBook`)
 * before it announces the change, so a listener or hook already reads the
 * books as they are after the event. `audit()` (audit.ts) checks them
 * against the actors themselves.
 */
import type { AnyActorRef } from 'xstate';
import type { BookCounts } from '../machines/user-supervisor.machine.js';
import type { TokenBucket } from './admission-rate.js';

const EMPTY: BookCounts = Object.freeze({ live: 0, idle: 0, draining: 0 });

/** One user's supervisor and the last book it published. */
export class UserRecord implements TokenBucket {
  book: BookCounts = EMPTY;
  // The admission rate limit's bucket (admission-rate.ts): freed with the record.
  tokens = Number.NaN;
  tokensAt = 0;
  constructor(
    readonly userId: string,
    readonly actor: AnyActorRef,
  ) {}

  /** Holds no connection: lingering, or about to stop. */
  get empty(): boolean {
    return this.book.live === 0 && this.book.draining === 0;
  }
}

export class Books {
  // Connections by state. `live` is connecting + active; `connecting` is
  // counted at admission and on the first exit from `connecting`.
  live = 0;
  idle = 0;
  draining = 0;
  connecting = 0;
  /** Users holding a connecting or active connection. */
  users = 0;
  supervisors = 0;
  /** Supervisors holding no connection (lingering for a reconnect). */
  emptySupervisors = 0;
  readonly counters = { admitted: 0, rejected: 0, evicted: 0, disposed: 0 };

  /** Connections not yet disposed, draining included. */
  get connections(): number {
    return this.live + this.draining;
  }

  /** A supervisor started: it holds nothing yet. */
  supervisorStarted(): void {
    this.supervisors += 1;
    this.emptySupervisors += 1;
  }

  /** A supervisor ended; its book is emptied first if it still held connections (a failure). */
  supervisorEnded(record: UserRecord): void {
    this.publish(record, EMPTY);
    this.supervisors -= 1;
    this.emptySupervisors -= 1;
  }

  /** `record`'s user now holds `book`: every total follows by the difference. */
  publish(record: UserRecord, book: BookCounts): void {
    const before = record.book;
    const wasEmpty = record.empty;
    this.live += book.live - before.live;
    this.idle += book.idle - before.idle;
    this.draining += book.draining - before.draining;
    this.users += Number(book.live > 0) - Number(before.live > 0);
    record.book = book;
    this.emptySupervisors += Number(record.empty) - Number(wasEmpty);
  }
}
