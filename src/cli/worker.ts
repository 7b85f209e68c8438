import { ConfigError } from '../config/errors.js';
import type { Settings } from '../config/schema.js';
import { systemClockOffsetBy } from '../kernel/clock.js';
import { createLogger } from '../kernel/log.js';
import type { ReadyMessage } from '../kernel/workerProtocol.js';
import type { PageFactory } from '../proxy/pageEndpoint.js';
import type { RunningProxy } from '../proxy/server.js';
import { listenTarget, SupervisorChannel } from '../proxy/supervisorChannel.js';
import { notifySystemdReady } from '../proxy/systemdReady.js';
import { startProxy } from './composeWorker.js';

export interface WorkerMode {
  /** Started by ratewarden's supervisor: wait for its listening socket instead of binding one. */
  socketFromSupervisor: boolean;
  /** The live page, built by cli/ (absent with `--no-page`). */
  page?: PageFactory;
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
    throw new ConfigError(
      'run: --socket-from-supervisor is for the worker ratewarden\'s supervisor starts; run "ratewarden run" without it',
    );
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
