import type { Settings } from '../config/schema.js';
import { crashingAfter429s } from './crashAfter429s.js';
import { createLogger } from './log.js';
import { startProxy, type RunningProxy } from './server.js';

/** Sent over the IPC channel (when there is one) once the proxy listens. */
export interface ReadyMessage {
  type: 'ready';
  url: string;
  pid: number;
}

/**
 * The proxy worker as a process: runs until SIGTERM / SIGINT, or until its supervisor's IPC
 * channel closes (the supervisor died, even by SIGKILL: no orphan keeps the port). Resolves
 * with the exit code once every request is settled and the database is closed.
 */
export async function runWorker(settings: Settings): Promise<number> {
  const log = crashingAfter429s(createLogger(settings.logFormat), settings.unsafeCrashAfterRateLimits, settings.window, Date.now);
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

  proxy = await startProxy(settings, { log });
  if (process.send !== undefined && process.connected) {
    const ready: ReadyMessage = { type: 'ready', url: proxy.url, pid: process.pid };
    process.send(ready);
  }
  const why = await stopRequested;
  log.info('stop-requested', `${why}; finishing in-flight requests (send the signal again to cut them off at once)`);
  await proxy.close();
  return 0;
}
