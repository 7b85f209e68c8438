/**
 * One connection, one transaction at a time: work may await between its statements, so a
 * second transaction must wait for the first to end instead of interleaving its statements in
 * the first's BEGIN … COMMIT. Jobs run in the order asked. An idle queue starts a job at once,
 * in the caller's turn, so the request path pays no extra hop when nothing waits.
 */
export class TransactionQueue {
  private readonly waiting: (() => void)[] = [];
  private running = false;

  run<T>(job: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        let outcome: Promise<T>;
        try {
          outcome = job();
        } catch (error) {
          outcome = Promise.reject(error);
        }
        outcome.then(
          (value) => {
            this.next();
            resolve(value);
          },
          (error: unknown) => {
            this.next();
            reject(error);
          },
        );
      };
      if (this.running) {
        this.waiting.push(start);
        return;
      }
      this.running = true;
      start();
    });
  }

  private next(): void {
    const start = this.waiting.shift();
    if (start === undefined) this.running = false;
    else start();
  }
}
