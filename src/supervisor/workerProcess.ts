import type { Server, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  isConnectionTakenMessage,
  isReadyMessage,
  isSocketWantedMessage,
  type ConnectionMessage,
  type ListenMessage,
} from '../kernel/workerProtocol.js';
import type { LogFormat } from '../kernel/log.js';
import type { WorkerCommand } from './workerCommand.js';
import { passThrough } from './workerOutput.js';

/** After the worker's exit, how long its channel may take to deliver what the worker sent last. */
const channelCloseWaitMs = 1_000;

export type WorkerExit = { kind: 'exit'; exitCode: number } | { kind: 'signal'; signal: string } | { kind: 'spawn-error'; message: string };

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
  /** Hands the worker one connection the supervisor accepted; false when the worker's channel is gone. */
  take(connection: Socket): boolean;
  /** After the worker's exit: the connections handed to it that it never took (never reached it, or it hung), untouched. */
  takeBack(): Socket[];
}

/** The listening socket the worker is to accept on, handed over when the worker asks for it, and the address clients use. */
export interface WorkerSocket {
  server: Server;
  url: string;
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
export async function startWorker(command: WorkerCommand, socket: WorkerSocket, output: WorkerOutputOptions): Promise<WorkerProcess> {
  // Loaded on first use: every CLI command, the worker started at each restart included, imports
  // this module's neighbours, and execa alone takes longer to load than the rest of the worker.
  const { execa } = await import('execa');
  const subprocess = spawnWorker(execa, command);
  const pid = subprocess.pid ?? null;
  const outputDone = Promise.all([
    passThrough(subprocess.stdout, 'stdout', pid, output.format, output.writeStdout, output.now),
    passThrough(subprocess.stderr, 'stderr', pid, output.format, output.writeStderr, output.now),
  ]);
  const channel = new WorkerChannel(subprocess);
  const ready = channel.readMessages(socket);
  const exited = workerExited(subprocess, outputDone);
  return {
    pid,
    ready,
    exited,
    kill(signal) {
      subprocess.kill(signal);
    },
    take: (connection) => channel.take(connection),
    takeBack: () => channel.takeBack(),
  };
}

/** Not async: the subprocess is a thenable, which an async function would wait for (the worker's exit) instead of returning it. */
function spawnWorker(execa: typeof import('execa').execa, command: WorkerCommand) {
  return execa(command.file, [...command.args], {
    ipc: true,
    // Plain JSON messages; the listening socket and connections travel as handles beside them.
    serialization: 'json',
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    detached: true,
    cleanup: false,
    forceKillAfterDelay: false,
  });
}

type WorkerSubprocess = ReturnType<typeof spawnWorker>;

/**
 * The worker contract's side of the supervisor (docs/proxy.md): hands the worker the listening
 * socket once, when it asks for it, and the connections the supervisor accepted, each kept
 * until the worker says it took it.
 */
class WorkerChannel {
  /**
   * Connections handed to the worker that it has not said it took: the supervisor's copy stays
   * open, so that one the worker never read (it hung, or died first) goes to the next worker.
   */
  private readonly untaken = new Map<number, Socket>();
  private nextConnectionId = 1;
  private socketHanded = false;

  constructor(private readonly subprocess: WorkerSubprocess) {}

  /** Reads every message the worker sends, from now until its channel closes; resolves at its first ready. */
  readMessages(socket: WorkerSocket): Promise<ReadyMessage> {
    return new Promise<ReadyMessage>((resolve) => {
      void (async () => {
        try {
          // Never leave this loop early: execa disconnects the channel when the iteration ends,
          // and a worker takes a closed channel as its supervisor's death.
          for await (const message of this.subprocess.getEachMessage()) {
            // Once: every copy handed over would accept on the socket until that worker ends.
            if (isSocketWantedMessage(message) && !this.socketHanded)
              this.socketHanded = this.sendHandle({ type: 'listen', url: socket.url }, socket.server);
            if (isReadyMessage(message)) resolve({ url: typeof message.url === 'string' ? message.url : null });
            if (isConnectionTakenMessage(message)) {
              // The worker's copy is the connection now; closing ours sends nothing to the client.
              this.untaken.get(message.id)?.destroy();
              this.untaken.delete(message.id);
            }
          }
        } catch {
          // The channel broke because the worker died: its exit says why.
        }
      })();
    });
  }

  take(connection: Socket): boolean {
    const id = this.nextConnectionId++;
    const message: ConnectionMessage = { type: 'connection', id };
    this.untaken.set(id, connection);
    const sent = this.sendHandle(message, connection);
    if (!sent) this.untaken.delete(id);
    return sent;
  }

  takeBack(): Socket[] {
    const back = [...this.untaken.values()].filter((connection) => !connection.destroyed);
    this.untaken.clear();
    return back;
  }

  /**
   * execa's sendMessage carries no handles, so the handle goes through the subprocess's own
   * ChildProcess.send. A channel that closed (the worker died) is reported as false; the
   * worker's exit tells the rest.
   */
  private sendHandle(message: ListenMessage | ConnectionMessage, handle: Server | Socket): boolean {
    if (!this.subprocess.connected) return false;
    try {
      // keepOpen: the supervisor closes its copy itself once the worker says it took it (see
      // take), so that a connection the worker never took can be handed on whole.
      // A write that fails (the worker died meanwhile) is told by the worker's exit; the callback keeps Node from throwing it.
      this.subprocess.send(message, handle, { keepOpen: true }, () => undefined);
      return true;
    } catch {
      return false;
    }
  }
}

/** The worker's exit, once all its output has been passed through and its last messages read (or a second has passed). */
function workerExited(subprocess: WorkerSubprocess, outputDone: Promise<unknown>): Promise<WorkerExit> {
  // Every message the worker sent before it died is read before its connections are taken back.
  const channelClosed = new Promise<void>((resolve) => {
    if (!subprocess.connected) resolve();
    else subprocess.once('disconnect', () => resolve());
  });

  // The process's own exit, not only execa's result: a worker that dies with a handle message
  // unacknowledged leaves its channel waiting for that acknowledgement, and execa's result with it.
  const processExit = new Promise<WorkerExit>((resolve) => {
    subprocess.once('exit', (code, signal) =>
      resolve(signal !== null ? { kind: 'signal', signal } : { kind: 'exit', exitCode: code ?? 0 }),
    );
  });
  const execaResult = subprocess.then((result): WorkerExit => {
    if (result.signal !== undefined) return { kind: 'signal', signal: result.signal };
    if (result.exitCode !== undefined) return { kind: 'exit', exitCode: result.exitCode };
    return { kind: 'spawn-error', message: result.code ?? result.shortMessage ?? 'the worker could not be started' };
  });
  return Promise.race([processExit, execaResult]).then(async (exit) => {
    await outputDone;
    await Promise.race([channelClosed, sleep(channelCloseWaitMs)]);
    return exit;
  });
}
