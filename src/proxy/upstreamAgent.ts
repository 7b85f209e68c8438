import http from 'node:http';
import https from 'node:https';

export interface UpstreamTransport {
  request: typeof http.request;
  agent: http.Agent;
}

/*
 * One keep-alive agent per upstream, reused by every request. Idle sockets are dropped after a
 * few seconds, before a typical server's own keep-alive timeout, so that a reused socket is
 * rarely one the server is closing at that very moment.
 */
const idleSocketMs = 4_000;

export function upstreamTransport(upstream: URL): UpstreamTransport {
  const options = { keepAlive: true, timeout: idleSocketMs, noDelay: true, scheduling: 'lifo' as const };
  return upstream.protocol === 'https:'
    ? { request: https.request, agent: new https.Agent(options) }
    : { request: http.request, agent: new http.Agent(options) };
}
