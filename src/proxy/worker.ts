import type { Server as NetServer, Socket } from 'node:net';
import { ConfigError } from '../config/errors.js';
import type { Settings } from '../config/schema.js';
import { takePassedSocket } from '../kernel/socketActivation.js';
import { isConnectionMessage, isListenMessage, type ConnectionTakenMessage, type ReadyMessage, type SocketWantedMessage } from '../kernel/workerProtocol.js';
import { systemClockOffsetBy } from '../kernel/clock.js';
import { createLogger } from '../kernel/log.js';
import type { PageFactory } from './pageEndpoint.js';
import { startProxy, type ListenTarget, type RunningProxy } from './server.js';
import { notifySystemdReady } from './systemdReady.js';

export type { ReadyMessage } from '../kernel/workerProtocol.js';

export interface WorkerMode {
  /** Started by ratewarden's supervisor: wait for its listening socket instead of binding one. */
  socketFromSupervisor: boolean;
  /** The live page, built by cli/ (absent with `--no-page`). */
  page?: PageFactory;
}

/** A connection that came before the proxy could serve it: a client that resets it meanwhile must not take the worker down. */
interface EarlyConnection {
  socket: Socket;
  id: number | undefined;
  dropOnError: () => void;
}

/**
 * The supervisor's messages: the listening socket first, then the connections it accepted
 * itself. Connections that come before the proxy can serve them wait here.
 */
class SupervisorChannel {
  private readonly socket: Promise<NetServer>;
  private socketWanted = false;
  private proxy: RunningProxy | null = null;
  private readonly early: EarlyConnection[] = [];

  constructor() {
    this.socket = new Promise((resolve, reject) => {
      // A supervisor gone before it handed the socket over never will: the start fails, and the worker ends.
      process.once('disconnect', () => reject(new Error('the supervisor went away before it handed the socket over')));
      process.on('message', (message: unknown, handle: unknown) => {
        if (isListenMessage(message) && handle !== undefined) {
          // Node accepts on a handed server at once: until the proxy's own server takes the
          // handle over, what it accepts is ours to serve, or a connection nobody ever answers.
          const received = handle as NetServer;
          received.on('connection', (socket: Socket) => this.adopt(socket, undefined));
          resolve(received);
        }
        if (isConnectionMessage(message) && handle !== undefined) this.adopt(handle as Socket, typeof message.id === 'number' ? message.id : undefined);
      });
    });
    // Told to whoever takes the socket; a worker that stops before it asks has nothing to hear.
    this.socket.catch(() => undefined);
  }

  /**
   * Asks for the listening socket when the proxy is about to listen, not before: from the
   * moment it arrives this process accepts on it, and a worker that fails to start would
   * reset what it accepted, where the supervisor holds it for the next one (SocketWantedMessage).
   */
  takeSocket(): Promise<NetServer> {
    if (!process.connected) return Promise.reject(new Error('the supervisor went away before it handed the socket over'));
    if (!this.socketWanted) {
      this.socketWanted = true;
      const wanted: SocketWantedMessage = { type: 'socket-wanted' };
      process.send?.(wanted);
    }
    return this.socket;
  }

  serve(proxy: RunningProxy): void {
    this.proxy = proxy;
    for (const { socket, id, dropOnError } of this.early.splice(0)) {
      socket.off('error', dropOnError);
      // One the client closed meanwhile is still ours: the supervisor's copy must go too.
      if (socket.destroyed) this.tellTaken(id);
      else this.serveOn(proxy, socket, id);
    }
  }

  private adopt(socket: Socket, id: number | undefined): void {
    if (this.proxy !== null) {
      this.serveOn(this.proxy, socket, id);
      return;
    }
    const dropOnError = (): void => {
      socket.destroy();
    };
    socket.on('error', dropOnError);
    this.early.push({ socket, id, dropOnError });
  }

  /** Tells the supervisor before the first byte is read: the connection is ours now (see ConnectionTakenMessage). */
  private serveOn(proxy: RunningProxy, socket: Socket, id: number | undefined): void {
    this.tellTaken(id);
    proxy.adopt(socket);
  }

  private tellTaken(id: number | undefined): void {
    if (id === undefined || !process.connected) return;
    const taken: ConnectionTakenMessage = { type: 'connection-taken', id };
    process.send?.(taken);
  }
}

function listenTarget(channel: SupervisorChannel | null): Promise<ListenTarget> | ListenTarget {
  if (channel !== null) return { kind: 'handle', take: () => channel.takeSocket() };
  const passed = takePassedSocket();
  if (passed.kind === 'invalid') throw new ConfigError(passed.problem);
  if (passed.kind === 'fd') return passed;
  return { kind: 'address' };
}

/**
 * The proxy worker as a process: runs until SIGTERM / SIGINT, or until its supervisor's IPC
 * channel closes (the supervisor died, even by SIGKILL: no orphan keeps the port). Resolves
 * with the exit code once every request is settled and the database is closed.
 */
export async function runWorker(settings: Settings, mode: WorkerMode = { socketFromSupervisor: false }): Promise<number> {
  const log = createLogger(settings.logFormat);
  let proxy: RunningProxy | null = null;
  let stopRequests = 0;
  let requestStop: (why: string) => void = () => undefined;
  const stopRequested = new Promise<string>((resolve) => {
    requestStop = resolve;
  });
  // Listening before the proxy starts: a stop that arrives during start-up is not lost.
  const stop = (why: string): void => {
    stopRequests += 1;
    if (stopRequests === 1) requestStop(why);
    else proxy?.cutOff();
  };
  process.on('SIGTERM', () => stop('SIGTERM received'));
  process.on('SIGINT', () => stop('SIGINT received'));
  if (process.send !== undefined) process.once('disconnect', () => stop('the supervisor is gone (IPC channel closed)'));
  if (mode.socketFromSupervisor && process.send === undefined) {
    throw new ConfigError('run: --socket-from-supervisor is for the worker ratewarden\'s supervisor starts; run "ratewarden run" without it');
  }
  const channel = mode.socketFromSupervisor ? new SupervisorChannel() : null;

  const target = await Promise.race([listenTarget(channel), stopRequested.then(() => null)]);
  if (target === null) return 0;
  proxy = await startProxy(settings, { log, listenOn: target, clock: systemClockOffsetBy(settings.unsafeClockOffset), page: mode.page });
  channel?.serve(proxy);
  if (process.send !== undefined && process.connected) {
    const ready: ReadyMessage = { type: 'ready', url: proxy.url, pid: process.pid };
    process.send(ready);
  }
  void notifySystemdReady(proxy.url, log);
  const why = await stopRequested;
  log.info('stop-requested', `${why}; finishing in-flight requests (send the signal again to cut them off at once)`);
  await proxy.close();
  return 0;
}
