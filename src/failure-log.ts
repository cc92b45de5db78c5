// A background loop's failures said once per outage. The sweeper, the webhook claim and the media heartbeat run
// every second or two: a database down for ten minutes wrote a line each round (the sweeper's with a stack), about
// 1500 lines that said one thing. Now: the first failure as before, a reminder a minute with how many since, and one
// line when the loop works again, so the log says when the outage ended too.
import type { Logger } from 'pino';

/** How often a failure that goes on is said again. */
export const FAILURE_REMINDER_MS = 60_000;

export class FailureLog {
  readonly #logger: Logger;
  readonly #failedMsg: string;
  readonly #recoveredMsg: string;
  readonly #now: () => number;
  /** When the current run of failures began (ms), or null: the last round worked. */
  #since: number | null = null;
  #failures = 0;
  #saidAt = 0;
  /** The levels already said in full in this run: a bug (error) showing during an outage (warn) is said too. */
  #levelsSaid = new Set<'warn' | 'error'>();

  constructor(logger: Logger, messages: { failed: string; recovered: string }, now: () => number = Date.now) {
    this.#logger = logger;
    this.#failedMsg = messages.failed;
    this.#recoveredMsg = messages.recovered;
    this.#now = now;
  }

  /** A round failed: `err` is logged as given the first time at its level, its message in the reminders. */
  failed(err: unknown, level: 'warn' | 'error' = 'warn'): void {
    const now = this.#now();
    this.#failures += 1;
    this.#since ??= now;
    if (!this.#levelsSaid.has(level)) {
      this.#levelsSaid.add(level);
      this.#saidAt = now;
      this.#logger[level]({ err }, this.#failedMsg);
      return;
    }
    if (now - this.#saidAt >= FAILURE_REMINDER_MS) {
      this.#saidAt = now;
      this.#logger[level](
        { err: err instanceof Error ? err.message : err, failures: this.#failures, failingForMs: now - this.#since },
        `${this.#failedMsg} (still; ${this.#failures} times since the first)`,
      );
    }
  }

  /** A round worked: after failures, one line saying so. */
  ok(): void {
    if (this.#since === null) {
      return;
    }
    this.#logger.info({ failures: this.#failures, failingForMs: this.#now() - this.#since }, this.#recoveredMsg);
    this.#since = null;
    this.#failures = 0;
    this.#levelsSaid.clear();
  }
}
