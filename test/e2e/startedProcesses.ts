import { execa, type ResultPromise } from 'execa';
import { startSimUpstream, type SimUpstream } from '../../src/sim/upstream.js';
import { binary, cliEnv, requireBuild } from './operatorCli.js';

export interface StartedWorker {
  worker: ResultPromise;
  /** `http://127.0.0.1:PORT`, from the worker's own "listening on" line. */
  url: string;
  /** Everything it wrote to stdout and stderr so far. */
  output: () => string;
}

export interface WorkerOptions {
  ipc?: boolean;
  env?: Record<string, string>;
}

/** The CLI processes and simulated upstreams an e2e test starts, all stopped after each test. */
export class StartedProcesses {
  private readonly processes: ResultPromise[] = [];
  private readonly sims: SimUpstream[] = [];

  /** Tracks a started `ratewarden` process, killed at the end of the test. */
  track<T extends ResultPromise>(process: T): T {
    this.processes.push(process);
    return process;
  }

  /**
   * `ratewarden run --no-supervise` on 127.0.0.1 port 0 with `home` as its config and state
   * folders, as a user starts it; resolves once it says where it listens.
   */
  async worker(home: string, args: readonly string[], options: WorkerOptions = {}): Promise<StartedWorker> {
    requireBuild();
    const worker = this.track(
      execa(binary, ['run', '--no-supervise', '--listen', '127.0.0.1:0', ...args], {
        env: cliEnv(home, options.env),
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
        ipc: options.ipc ?? false,
      }),
    );
    let output = '';
    worker.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    worker.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const url = await new Promise<string>((resolve, reject) => {
      const check = (): void => {
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match) resolve(match[1] as string);
      };
      worker.stdout?.on('data', check);
      void worker.then(() => reject(new Error(`the worker exited before listening:\n${output}`)));
    });
    return { worker, url, output: () => output };
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
