import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Where the first pick goes when the system does not say where its ephemeral ports start (Linux's default start). */
const defaultEphemeralStart = 32_768;
const lowestPick = 10_000;
const attempts = 50;

/**
 * A 127.0.0.1 port nothing listens on now, for a server that must come back on the same port
 * (a worker restarted by a naive restarter, a database server restarted in place): bound once
 * to check, then closed. It is picked at random BELOW the system's ephemeral range, because a
 * port in that range is the local port of any outgoing connection of any process: while the
 * server is down between two lives, another process's connection may take it, and the next
 * life cannot listen. Ports below the range are only ever taken by someone asking for them.
 */
export async function freeLoopbackPort(random: () => number = Math.random): Promise<number> {
  const below = ephemeralStart();
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    const port = lowestPick + Math.floor(random() * (below - lowestPick));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free 127.0.0.1 port found in ${lowestPick}–${below - 1} after ${attempts} tries`);
}

function ephemeralStart(): number {
  try {
    const start = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(start) && start > lowestPick + 1_000 ? start : defaultEphemeralStart;
  } catch {
    return defaultEphemeralStart;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}
