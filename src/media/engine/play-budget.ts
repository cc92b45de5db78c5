// What `play` may still queue on a call: its decoded audio waits in memory (~0.1 MB per second at 48 kHz) until it
// is played, in real time. A call takes no new file while MAX_LOADING are loading or while more than the allowed
// seconds of audio wait to be played, so one client cannot grow the process without bound.

/** Files a call may have downloading and decoding at once; more are refused until one is done. */
const MAX_LOADING = 2;

/** The call already has as much to play as it may queue. */
export class PlayQueueFullError extends Error {
  /** When a new file may be taken, as far as the engine can tell. */
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class PlayBudget {
  readonly #maxQueuedMs: number;
  #loading = 0;
  /** When what is queued has played out (ms since the epoch), if nothing is stopped meanwhile. */
  #endsAt = 0;
  /** Counts stops: a file still loading when the queue was stopped was dropped, and adds nothing. */
  #stops = 0;

  constructor(maxQueuedSeconds: number) {
    this.#maxQueuedMs = maxQueuedSeconds * 1000;
  }

  /**
   * Takes a place for one more file (or throws PlayQueueFullError); the answer is called once it is decoded, with
   * its length, or with null when it failed.
   */
  admit(): (seconds: number | null) => void {
    const queuedMs = this.#endsAt - Date.now();
    if (this.#loading >= MAX_LOADING) {
      throw new PlayQueueFullError(
        `${MAX_LOADING} files are still loading for this call: wait for one to be answered`,
        1,
      );
    }
    if (queuedMs > this.#maxQueuedMs) {
      throw new PlayQueueFullError(
        `this call has ${Math.round(queuedMs / 1000)} s of audio queued: wait, or stop what is queued first`,
        Math.ceil((queuedMs - this.#maxQueuedMs) / 1000),
      );
    }
    this.#loading++;
    const stops = this.#stops;
    return (seconds) => {
      this.#loading--;
      if (seconds !== null && this.#stops === stops) {
        this.#endsAt = Math.max(this.#endsAt, Date.now()) + seconds * 1000;
      }
    };
  }

  stop(): void {
    this.#endsAt = 0;
    this.#stops++;
  }
}
