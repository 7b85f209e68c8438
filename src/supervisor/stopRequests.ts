const stopSignals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/**
 * The supervisor's stop signals: the first asks for a graceful stop (SIGTERM to the worker,
 * SIGKILL after the stop timeout), a second one for a stop at once.
 */
export class StopRequests {
  private readonly gracefulController = new AbortController();
  private readonly immediateController = new AbortController();
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (!this.gracefulController.signal.aborted) this.gracefulController.abort(signal);
    else this.immediateController.abort(signal);
  };

  constructor() {
    for (const signal of stopSignals) process.on(signal, this.onSignal);
  }

  get graceful(): AbortSignal {
    return this.gracefulController.signal;
  }

  get immediate(): AbortSignal {
    return this.immediateController.signal;
  }

  /** Which signal asked for the stop, if one did. */
  get reason(): string | null {
    return this.graceful.aborted ? String(this.graceful.reason) : null;
  }

  dispose(): void {
    for (const signal of stopSignals) process.off(signal, this.onSignal);
  }
}
