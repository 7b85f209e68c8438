/**
 * What the supervisor and its worker say to each other over the worker's IPC channel.
 *
 * The supervisor owns the listening socket: it binds it before the first worker starts and
 * keeps it open across restarts, so that a connection never meets a closed port. Each worker it
 * starts gets the socket as a handle (`listen`), once it asks for it (`socket-wanted`), and
 * accepts on it itself. The supervisor's own copy accepts too (Node cannot hold a listening
 * socket without accepting on it); what it accepts while a worker is ready it hands to that
 * worker as a connection (`connection`), unread; while no worker is ready it holds it (a worker
 * is starting) or answers it itself (a restart delay, a give-up).
 */

/** The worker's health endpoint: the supervisor's liveness check asks it; the worker answers it and never forwards it. */
export const healthPath = '/_ratewarden/health';

/** The hidden `run` flag by which the supervisor tells its worker to wait for the socket instead of binding one. */
export const socketFromSupervisorFlag = '--socket-from-supervisor';

/**
 * Worker → supervisor, once the worker is about to listen (its store open). Node starts
 * accepting on a handed listening socket the moment the handle arrives, but delivers its message
 * only once the process listens for messages: a socket handed at spawn accepted connections
 * while the worker's modules loaded, with no one to serve them; and what a worker that fails to
 * start has accepted is reset, where the supervisor holds it for the next worker.
 */
export interface SocketWantedMessage {
  type: 'socket-wanted';
}

/** Supervisor → worker, with the listening socket (a net.Server) as the handle. */
export interface ListenMessage {
  type: 'listen';
  /** The address clients use, e.g. http://127.0.0.1:8787. */
  url: string;
}

/** Supervisor → worker, with one accepted connection (a net.Socket, nothing read from it) as the handle. */
export interface ConnectionMessage {
  type: 'connection';
  /** Named again in the worker's `connection-taken`. */
  id: number;
}

/**
 * Worker → supervisor, the moment the worker starts serving a connection and before it reads a
 * byte of it: from then on the connection is the worker's. Until then the supervisor keeps its
 * own copy, so that a connection handed to a worker that hangs or dies before taking it is
 * handed, whole and unread, to the next worker instead of being reset with the dead one.
 */
export interface ConnectionTakenMessage {
  type: 'connection-taken';
  id: number;
}

/** Worker → supervisor, once the worker accepts connections. */
export interface ReadyMessage {
  type: 'ready';
  url: string;
  pid: number;
}

function hasType(message: unknown, type: string): boolean {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}

export function isListenMessage(message: unknown): message is ListenMessage {
  return hasType(message, 'listen') && typeof (message as { url?: unknown }).url === 'string';
}

export function isConnectionMessage(message: unknown): message is ConnectionMessage {
  return hasType(message, 'connection');
}

export function isSocketWantedMessage(message: unknown): message is SocketWantedMessage {
  return hasType(message, 'socket-wanted');
}

export function isConnectionTakenMessage(message: unknown): message is ConnectionTakenMessage {
  return hasType(message, 'connection-taken') && typeof (message as { id?: unknown }).id === 'number';
}

export function isReadyMessage(message: unknown): message is { type: 'ready'; url?: unknown } {
  return hasType(message, 'ready');
}
