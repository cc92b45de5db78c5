// Requests that find a call's action slot taken wait here for the owner to settle it.
// A local signal wakes same-process waiters at once; polling covers owners in other processes.
export class ActionWaiters {
  readonly #waiting = new Map<string, Set<() => void>>();

  /** Resolves on a local signal for the call or after `ms`, whichever comes first. */
  wait(callId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.#waiting.get(callId) ?? new Set();
      this.#waiting.set(callId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.#waiting.get(callId) === set) {
          this.#waiting.delete(callId);
        }
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  signal(callId: string): void {
    for (const wake of [...(this.#waiting.get(callId) ?? [])]) {
      wake();
    }
  }
}
