import type { Server as NetServer, Socket } from 'node:net';
import { ConfigError } from '../config/errors.js';
import { takePassedSocket } from '../kernel/socketActivation.js';
import { isConnectionMessage, isListenMessage, type ConnectionTakenMessage, type SocketWantedMessage } from '../kernel/workerProtocol.js';
import type { ListenTarget, RunningProxy } from './server.js';

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
export class SupervisorChannel {
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
        if (isConnectionMessage(message) && handle !== undefined)
          this.adopt(handle as Socket, typeof message.id === 'number' ? message.id : undefined);
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

/** Where the worker listens: the supervisor's socket, a socket systemd passed, or its own `--listen` address. */
export function listenTarget(channel: SupervisorChannel | null): Promise<ListenTarget> | ListenTarget {
  if (channel !== null) return { kind: 'handle', take: () => channel.takeSocket() };
  const passed = takePassedSocket();
  if (passed.kind === 'invalid') throw new ConfigError(passed.problem);
  if (passed.kind === 'fd') return passed;
  return { kind: 'address' };
}
