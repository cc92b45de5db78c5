// "The media has ended", told once to everyone listening — including a listener that arrives afterwards (told at
// once). Shared by the session on this thread and its worker-thread proxy, which must behave the same to a socket.

export class EndSignal {
  private listeners: Set<(reason: string) => void> | null = new Set();

  get fired(): boolean {
    return this.listeners === null;
  }

  /** Returns the unsubscribe; after the end the listener is called at once with "call_ended". */
  listen(listener: (reason: string) => void): () => void {
    const listeners = this.listeners;
    if (!listeners) {
      listener('call_ended');
      return () => undefined;
    }
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** Tells every listener once; later calls do nothing. */
  fire(reason: string): void {
    const listeners = this.listeners;
    this.listeners = null;
    for (const listener of listeners ?? []) {
      listener(reason);
    }
  }
}
