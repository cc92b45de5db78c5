// Sends messages to the other side of a worker boundary in batches: everything posted during one turn of the event
// loop goes as one array in one postMessage. A media worker sends a frame per call every 20 ms; one message per
// frame would cost a structured clone and a wake-up each.

export interface MessageTarget {
  postMessage(value: unknown): void;
}

export class BatchedPort<T> {
  private readonly target: MessageTarget;
  private batch: T[] = [];
  private scheduled = false;

  constructor(target: MessageTarget) {
    this.target = target;
  }

  post(message: T): void {
    this.batch.push(message);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.batch.length === 0) {
      return;
    }
    const batch = this.batch;
    this.batch = [];
    this.target.postMessage(batch);
  }
}
