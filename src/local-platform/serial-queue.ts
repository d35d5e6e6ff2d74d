/**
 * Runs async tasks one at a time, in call order. Each track mutates through one queue, so two retries of the same
 * request (Temporal retries activities) never start two canaries.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `task` after every task queued before it has settled; a failed task does not block the next. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
