import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { formatDuration } from '../kernel/durations.js';
import type { ListenAddress } from '../config/fields.js';
import { cannotListenLine, urlFor } from '../proxy/listenAddress.js';
import { sendLocalReply } from '../proxy/localReplies.js';
import type { ProviderChooser } from '../proxy/providers/adapter.js';
import { pathOf } from '../proxy/target.js';
import { retryAfterSeconds } from '../proxy/rateLimitFields.js';
import type { Clock } from '../kernel/clock.js';

/** A worker that can take over a connection the supervisor accepted; false when its channel is gone. */
export interface ConnectionTaker {
  take(socket: Socket): boolean;
}

type DoorState =
  | { kind: 'holding' }
  | { kind: 'serving'; worker: ConnectionTaker }
  | { kind: 'restarting'; dueAt: number }
  | { kind: 'gave-up'; retryAfterMs: number }
  | { kind: 'closed' };

/** A client that sends no request within this is dropped while the supervisor answers for the worker. */
const requestHeadTimeoutMs = 20_000;

/**
 * How long connections may wait for the next worker, and how many: within these they are held
 * and handed to it; beyond them they are answered 503 `restarting` with the true wait.
 */
export interface HoldPolicy {
  /** A restart due within this much: connections wait for it instead of a 503 (0: only during a start). */
  holdMs: number;
  maxHeld: number;
}

/** After a give-up, how long connections already waiting in the kernel's backlog are still answered before the socket closes. */
export const gaveUpLingerMs = 250;

export type DoorAddress = { kind: 'address'; listen: ListenAddress } | { kind: 'fd'; fd: number };

/**
 * The listening socket, owned by the supervisor for its whole life: bound before the first
 * worker starts, handed to each worker, and closed only when the supervisor stops. What the
 * supervisor accepts itself goes to the ready worker; while a worker starts it waits (nothing
 * is read from it); during a restart delay or after a give-up it is answered 503 in the
 * provider's error shape with the time the next worker is due. Nothing is forwarded, nothing
 * recorded: only a worker does that.
 */
export class FrontDoor {
  private state: DoorState = { kind: 'holding' };
  private readonly held = new Set<Socket>();
  /** What each connection answered here arrived during: its answer tells that, whatever came since. */
  private readonly arrivedDuring = new WeakMap<Socket, DoorState>();
  private readonly replies: ReturnType<typeof createHttpServer>;

  private constructor(
    readonly server: Server,
    readonly url: string,
    private readonly providers: ProviderChooser,
    private readonly clock: Clock,
    private readonly holdPolicy: HoldPolicy,
  ) {
    this.replies = createHttpServer((request, response) => this.answer(request, response));
    server.on('connection', (socket) => this.arrived(socket));
  }

  /** Binds the socket; a listen address that cannot be had is one line (exit 1), before anything else happens. */
  static open(address: DoorAddress, providers: ProviderChooser, clock: Clock, hold: HoldPolicy): Promise<FrontDoor> {
    // pauseOnConnect: a connection handed to the worker must reach it with not one byte read here.
    const server = createNetServer({ pauseOnConnect: true, noDelay: true });
    return new Promise((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        reject(
          new Error(
            address.kind === 'address'
              ? cannotListenLine(address.listen.host, address.listen.port, error)
              : `cannot listen on the socket systemd passed (fd ${address.fd}): ${error.code ?? error.message}`,
          ),
        );
      });
      const listening = (): void => {
        server.removeAllListeners('error');
        const bound = server.address() as AddressInfo;
        resolve(
          new FrontDoor(
            server,
            urlFor(address.kind === 'address' ? address.listen.host : bound.address, bound.port),
            providers,
            clock,
            hold,
          ),
        );
      };
      if (address.kind === 'address') server.listen({ host: address.listen.host, port: address.listen.port, backlog: 511 }, listening);
      else server.listen({ fd: address.fd }, listening);
    });
  }

  /** No worker is ready: connections wait (with `returned`, those a worker that died never got). */
  hold(returned: readonly Socket[] = []): void {
    if (this.state.kind === 'closed') {
      for (const socket of returned) socket.destroy();
      return;
    }
    this.state = { kind: 'holding' };
    for (const socket of returned) this.wait(socket);
  }

  /** A worker is ready: it gets what waited, and what comes. */
  serve(worker: ConnectionTaker): void {
    this.moveTo({ kind: 'serving', worker });
  }

  /** A restart delay: connections wait once the restart is due within the hold, and are answered 503 `restarting` before. */
  restarting(dueAt: number): void {
    this.moveTo({ kind: 'restarting', dueAt });
  }

  /** Gave up: answered 503 `gave-up` until the socket closes. */
  gaveUp(retryAfterMs: number): void {
    this.moveTo({ kind: 'gave-up', retryAfterMs });
  }

  /**
   * Stops accepting at once (the supervisor's copy of the socket is closed); the socket is gone
   * once the worker, which closes its copy when it stops, has let go too. Idempotent.
   */
  close(): void {
    if (this.state.kind === 'closed') return;
    this.state = { kind: 'closed' };
    for (const socket of this.held) socket.destroy();
    this.held.clear();
    this.server.close();
  }

  /** A new state, and what waited goes where that state sends it. A closed door stays closed. */
  private moveTo(state: Exclude<DoorState, { kind: 'holding' } | { kind: 'closed' }>): void {
    if (this.state.kind === 'closed') return;
    this.state = state;
    for (const socket of [...this.held]) {
      this.held.delete(socket);
      this.arrived(socket);
    }
  }

  private arrived(socket: Socket): void {
    switch (this.state.kind) {
      case 'serving':
        if (this.state.worker.take(socket)) return;
        // The worker is gone and the supervisor has not heard yet: the connection waits for what comes next.
        this.hold([socket]);
        return;
      case 'holding':
        if (this.held.size < this.holdPolicy.maxHeld) this.wait(socket);
        else this.answerHere(socket);
        return;
      case 'restarting':
        // The next worker is due soon enough: the connection waits for it rather than hear "come back later".
        if (this.state.dueAt - this.clock() <= this.holdPolicy.holdMs && this.held.size < this.holdPolicy.maxHeld) {
          this.wait(socket);
          return;
        }
        this.answerHere(socket);
        return;
      case 'gave-up':
        this.answerHere(socket);
        return;
      case 'closed':
        socket.destroy();
        return;
    }
  }

  private answerHere(socket: Socket): void {
    this.arrivedDuring.set(socket, this.state);
    socket.setTimeout(requestHeadTimeoutMs, () => socket.destroy());
    this.replies.emit('connection', socket);
    socket.resume();
  }

  private wait(socket: Socket): void {
    this.held.add(socket);
    socket.once('close', () => this.held.delete(socket));
  }

  private answer(request: IncomingMessage, response: ServerResponse): void {
    request.resume();
    const state = this.arrivedDuring.get(request.socket) ?? this.state;
    const now = this.clock();
    const retryAfterMs =
      state.kind === 'restarting' ? Math.max(1, state.dueAt - now) : state.kind === 'gave-up' ? Math.max(1, state.retryAfterMs) : 1_000;
    const reason = state.kind === 'gave-up' ? 'gave-up' : 'restarting';
    const message =
      reason === 'restarting'
        ? `ratewarden is restarting its worker after a failure; the next one is due in ${formatDuration(retryAfterMs)}. Nothing was forwarded; retry after that`
        : 'ratewarden\'s supervisor gave up after too many worker failures and is stopping; nothing was forwarded. The operator must fix the cause and run "ratewarden reset-restarts"';
    // The same shape as the worker's own answers: the SDK on the other end reads it as retryable.
    sendLocalReply(response, this.providers({ path: pathOf(request.url), headers: request.headers }), {
      reason,
      message,
      close: true,
      headers: { 'retry-after': String(retryAfterSeconds(retryAfterMs)), 'retry-after-ms': String(Math.ceil(retryAfterMs)) },
    });
  }
}
