import type { ResultPromise } from 'execa';
import { startSimUpstream, type SimUpstream } from '../../src/sim/upstream.js';

/** The CLI processes and simulated upstreams an e2e test starts, all stopped after each test. */
export class StartedProcesses {
  private readonly processes: ResultPromise[] = [];
  private readonly sims: SimUpstream[] = [];

  /** Tracks a started `ratewarden` process, killed at the end of the test. */
  track<T extends ResultPromise>(process: T): T {
    this.processes.push(process);
    return process;
  }

  /** A simulated upstream that sends no Retry-After, so a cooldown is the ladder's. */
  async sim(): Promise<SimUpstream> {
    const upstream = await startSimUpstream({ retryAfterMode: 'none' });
    this.sims.push(upstream);
    return upstream;
  }

  async stopAll(): Promise<void> {
    for (const process of this.processes.splice(0)) {
      process.kill('SIGKILL');
      await process.catch(() => undefined);
    }
    await Promise.all(this.sims.splice(0).map((sim) => sim.close()));
  }
}
