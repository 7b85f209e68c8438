import type { LogFormat } from '../proxy/log.js';
import type { WorkerCommand } from './workerCommand.js';
import { passThrough } from './workerOutput.js';

export type WorkerExit =
  | { kind: 'exit'; exitCode: number }
  | { kind: 'signal'; signal: string }
  | { kind: 'spawn-error'; message: string };

export interface ReadyMessage {
  url: string | null;
}

export interface WorkerProcess {
  readonly pid: number | null;
  /** Resolves at the worker's first `{ type: 'ready' }` IPC message; stays pending when none comes. */
  readonly ready: Promise<ReadyMessage>;
  /** Resolves once the worker has exited and all its output has been passed through. */
  readonly exited: Promise<WorkerExit>;
  kill(signal: 'SIGTERM' | 'SIGKILL'): void;
}

export interface WorkerOutputOptions {
  format: LogFormat;
  writeStdout: (line: string) => void;
  writeStderr: (line: string) => void;
  now: () => number;
}

/**
 * Starts the worker with an IPC channel. Detached into its own process group, so that a Ctrl-C
 * in the terminal reaches only the supervisor, which decides how the worker stops; if the
 * supervisor dies, the worker sees the channel close and stops by itself.
 */
export async function startWorker(command: WorkerCommand, output: WorkerOutputOptions): Promise<WorkerProcess> {
  // Loaded on first use: every CLI command, the worker started at each restart included, imports
  // this module's neighbours, and execa alone takes longer to load than the rest of the worker.
  const { execa } = await import('execa');
  const subprocess = execa(command.file, [...command.args], {
    ipc: true,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    detached: true,
    cleanup: false,
    forceKillAfterDelay: false,
  });
  const pid = subprocess.pid ?? null;
  const outputDone = Promise.all([
    passThrough(subprocess.stdout, 'stdout', pid, output.format, output.writeStdout, output.now),
    passThrough(subprocess.stderr, 'stderr', pid, output.format, output.writeStderr, output.now),
  ]);

  const ready = new Promise<ReadyMessage>((resolve) => {
    void (async () => {
      try {
        // Never leave this loop early: execa disconnects the channel when the iteration ends,
        // and a worker takes a closed channel as its supervisor's death.
        for await (const message of subprocess.getEachMessage()) {
          if (isReadyMessage(message)) resolve({ url: typeof message.url === 'string' ? message.url : null });
        }
      } catch {
        // The channel broke because the worker died: its exit says why.
      }
    })();
  });

  const exited = subprocess.then(async (result): Promise<WorkerExit> => {
    await outputDone;
    if (result.signal !== undefined) return { kind: 'signal', signal: result.signal };
    if (result.exitCode !== undefined) return { kind: 'exit', exitCode: result.exitCode };
    return { kind: 'spawn-error', message: result.code ?? result.shortMessage ?? 'the worker could not be started' };
  });

  return {
    pid,
    ready,
    exited,
    kill(signal) {
      subprocess.kill(signal);
    },
  };
}

function isReadyMessage(message: unknown): message is { type: 'ready'; url?: unknown } {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'ready';
}
