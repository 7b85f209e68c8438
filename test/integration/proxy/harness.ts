import { createServer, request as httpRequest, type RequestListener } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connect } from 'node:net';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import type { SettingName } from '../../../src/config/schema.js';
import { startProxy, type ProxyOptions } from '../../../src/cli/composeWorker.js';
import type { RunningProxy } from '../../../src/proxy/server.js';
import { openDatabase } from '../../../src/store/sqlite/open.js';
import { startSimUpstream, type SimUpstream, type SimUpstreamOptions } from '../../../src/sim/upstream.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';
import type { Warden } from '../../../src/warden/warden.js';

export type Flags = Partial<Record<SettingName, string>>;

/** Settings exactly as a user's flags would give them (no config file, no environment). */
export function settingsFrom(flags: Flags) {
  return loadConfig({ flags, env: { XDG_CONFIG_HOME: '/nonexistent/ratewarden-test' } }).settings;
}

export interface RecordedRequest {
  id: number;
  method: string;
  path: string;
  outcome: string;
  status: number | null;
  probe: number;
  est_input_tokens: number;
  est_output_tokens: number;
  input_tokens: number | null;
  output_tokens: number | null;
}

export interface RateLimitEventRow {
  at: number;
  consecutive_429s: number;
  escalated: number;
  cooldown_ms: number;
  cooldown_until: number;
}

/** Reads what the proxy recorded, through a second, read-only connection. */
export function readRows<T>(dbPath: string, sql: string): T[] {
  const db = openDatabase(dbPath, { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

export const recordedRequests = (dbPath: string): RecordedRequest[] =>
  readRows<RecordedRequest>(dbPath, 'SELECT * FROM requests ORDER BY id');

/** Starts simulated upstreams and proxies on 127.0.0.1 port 0; `closeAll` belongs in afterEach. */
export class ProxyHarness {
  private readonly dirs = new ScratchDirs();
  private readonly proxies: RunningProxy[] = [];
  private readonly sims: SimUpstream[] = [];
  private readonly servers: { close(): Promise<void> }[] = [];

  /** A hand-written upstream, for exact bytes and timing that the simulator does not offer. */
  async upstream(handler: RequestListener): Promise<{ url: string; close(): Promise<void> }> {
    const sockets = new Set<Socket>();
    const server = createServer(handler);
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const handle = {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    };
    this.servers.push(handle);
    return handle;
  }

  async sim(options: SimUpstreamOptions = {}): Promise<SimUpstream> {
    const sim = await startSimUpstream(options);
    this.sims.push(sim);
    return sim;
  }

  dbPath(): string {
    return join(this.dirs.make('ratewarden-proxy-'), 'ratewarden.db');
  }

  async proxy(flags: Flags, options: ProxyOptions = {}): Promise<{ proxy: RunningProxy; dbPath: string }> {
    const dbPath = flags.db ?? this.dbPath();
    const proxy = await startProxy(settingsFrom({ listen: '127.0.0.1:0', stopTimeout: '2s', ...flags, db: dbPath }), options);
    this.proxies.push(proxy);
    return { proxy, dbPath };
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.proxies.splice(0).map((proxy) => proxy.close(0)));
    await Promise.all(this.sims.splice(0).map((sim) => sim.close()));
    await Promise.all(this.servers.splice(0).map((server) => server.close()));
    this.dirs.removeAll();
  }
}

export function anthropicBody(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: 'claude-sim', max_tokens: 30, messages: [{ role: 'user', content: 'Hello there' }], ...extra });
}

export async function postJson(url: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

export interface RawAnswer {
  status: number;
  headers: import('node:http').IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** A request through node:http with full control of the headers, and the body as raw bytes. */
export function rawRequest(
  baseUrl: string,
  options: { method?: string; path: string; headers?: string[]; body?: Buffer | string; chunks?: (Buffer | string)[] },
): Promise<RawAnswer> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = httpRequest({
      host: url.hostname,
      port: Number(url.port),
      method: options.method ?? 'GET',
      path: options.path,
      // Raw header arrays get no automatic Host; HTTP/1.1 requires one.
      headers: (options.headers ?? []).some((name, index) => index % 2 === 0 && name.toLowerCase() === 'host')
        ? options.headers
        : ['Host', url.host, ...(options.headers ?? [])],
      agent: false,
    });
    request.once('error', reject);
    request.once('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('error', reject);
      response.once('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          rawHeaders: response.rawHeaders,
          body: Buffer.concat(chunks),
        }),
      );
    });
    for (const chunk of options.chunks ?? []) request.write(chunk);
    request.end(options.body);
  });
}

/** Sends bytes as they are over a fresh TCP connection and returns everything the server said. */
export function rawExchange(baseUrl: string, bytes: string): Promise<string> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

/** The scope the latest request was counted in (`default` before any): whose state a single-scope test reads. */
export function lastScope(warden: Warden): string {
  const [row] = readRows<{ scope: string }>(warden.location, 'SELECT scope FROM requests ORDER BY id DESC LIMIT 1');
  return row?.scope ?? 'default';
}

/** Waits, polling, until the condition holds (the test's own timeout bounds it). */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}
