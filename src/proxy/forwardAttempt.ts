import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { ForwardState } from './forwardState.js';
import type { ForwardSetup } from './forwardTypes.js';

/** What one attempt sends: the same every time the request is sent. */
export interface AttemptRequest {
  method: string | undefined;
  path: string;
  /** Raw header pairs, as the upstream is to see them. */
  headers: string[];
}

/**
 * One sending of the request to the upstream. It turns what its socket shows into the state's
 * wire transitions: a fresh connection carries nothing until it is established (and, for TLS,
 * secured); on a reused one the request goes out at once, so any byte handed to it may have
 * arrived.
 */
export class UpstreamAttempt {
  readonly number: number;
  readonly request: ClientRequest;
  /** A kept-alive socket and its byte count before this attempt was handed to it. */
  private keptAlive: { socket: Socket; bytesBefore: number } | null = null;

  constructor(
    private readonly state: ForwardState,
    setup: ForwardSetup,
    what: AttemptRequest,
  ) {
    const { upstream, transport } = setup;
    this.number = state.attemptStarted();
    this.request = transport.request({
      agent: transport.agent,
      protocol: upstream.protocol,
      hostname: upstream.hostname.replace(/^\[|\]$/g, ''),
      port: upstream.port === '' ? undefined : Number(upstream.port),
      method: what.method,
      path: what.path,
      headers: what.headers,
      setHost: false,
    });
    const secured = upstream.protocol === 'https:';
    this.request.once('socket', (socket: Socket) => this.socketAssigned(socket, secured));
  }

  /** Whether the attempt went out on a socket an earlier request had used. */
  get reusedSocket(): boolean {
    return this.request.reusedSocket;
  }

  /**
   * Brings the state up to date with a kept-alive socket: it signals no event when it takes
   * bytes, so its count is read at the moment the answer depends on it (a failure).
   */
  observeWire(): void {
    const keptAlive = this.keptAlive;
    if (keptAlive !== null && keptAlive.socket.bytesWritten > keptAlive.bytesBefore) this.state.mayHaveReached(this.number);
  }

  private socketAssigned(socket: Socket, secured: boolean): void {
    this.state.queued(this.number);
    if (!socket.connecting) {
      this.keptAlive = { socket, bytesBefore: socket.bytesWritten };
      return;
    }
    socket.once(secured ? 'secureConnect' : 'connect', () => this.state.mayHaveReached(this.number));
  }
}
