import { setTimeout as sleep } from 'node:timers/promises';
import { exitCodes } from '../kernel/exitCodes.js';
import { ConfigError } from '../config/errors.js';
import { defaultDatabasePath } from '../config/paths.js';
import { restartPolicyFrom } from '../config/policy.js';
import type { Settings } from '../config/schema.js';
import { burstLimitReachable, type RestartPolicy } from '../core/restartPolicy.js';
import { formatDuration } from '../kernel/durations.js';
import { takePassedSocket } from '../kernel/socketActivation.js';
import { createLogger, type Logger } from '../kernel/log.js';
import { providerChooser } from '../proxy/providers/adapter.js';
import { checkWorkerSettings } from '../proxy/startupChecks.js';
import { Heartbeat } from '../warden/heartbeat.js';
import { SupervisorLedger, type SupervisorStart } from '../warden/supervisorLedger.js';
import { openStore } from '../store/openStore.js';
import type { Store } from '../store/port.js';
import type { Clock } from '../kernel/clock.js';
import { unreachableBurstLine } from './describe.js';
import { FrontDoor, gaveUpLingerMs, type DoorAddress } from './frontDoor.js';
import { RestartLoop } from './restartLoop.js';
import { StopRequests } from './stopRequests.js';
import { openStoreWhenReachable } from './storeAtStart.js';
import { supervisedWorkerCommand, type WorkerCommand } from './workerCommand.js';
import type { WorkerLifeSettings } from './workerLife.js';

export interface SuperviseOptions {
  settings: Settings;
  /** The user's arguments to `run`, passed on to the worker (`ratewarden run --no-supervise …`). */
  userArgs: readonly string[];
  /** For tests only: the program to run as the worker instead of this one in worker mode. */
  workerCommand?: WorkerCommand;
  clock?: Clock;
  writeStdout?: (text: string) => void;
  writeStderr?: (text: string) => void;
}

/** How often the supervisor refreshes its row in `processes`. */
export const supervisorHeartbeatMs = 5_000;

function startDetail(policy: RestartPolicy): string {
  return `restart-sec ${formatDuration(policy.restartSecMs)}, start-limit-burst ${policy.startLimitBurst} within ${formatDuration(policy.startLimitIntervalMs)}`;
}

/** The socket systemd passed (socket activation of a --supervised unit), or the configured address. */
function doorAddress(settings: Settings): DoorAddress {
  const passed = takePassedSocket();
  if (passed.kind === 'invalid') throw new ConfigError(passed.problem);
  return passed.kind === 'fd' ? passed : { kind: 'address', listen: settings.listen };
}

/**
 * `ratewarden run`: checks the settings and binds the listening socket before any worker
 * starts (a mistake is one line and exit 2, an address in use one line and exit 1, no restart
 * loop), then runs the worker on that socket and restarts it on failure under the durable
 * restart policy. Resolves with the exit code: 0 after a stop or a clean worker exit,
 * exitCodes.usage when the worker found a configuration mistake, exitCodes.gaveUp when the
 * burst limit was reached.
 */
export async function superviseWorker(options: SuperviseOptions): Promise<number> {
  const { settings } = options;
  const clock = options.clock ?? Date.now;
  const upstream = checkWorkerSettings(settings);
  const door = await FrontDoor.open(doorAddress(settings), providerChooser(upstream, settings.provider), clock, {
    holdMs: settings.restartHold,
    maxHeld: settings.restartHoldConnections,
  });
  try {
    return await superviseOnDoor(options, door, clock);
  } finally {
    door.close();
  }
}

interface OpenedLedger {
  store: Store;
  ledger: SupervisorLedger;
  start: SupervisorStart;
}

/** Opens the store and records the supervisor's start in it; the store is closed again when the start cannot be recorded. */
async function openSupervisorLedger(
  settings: Settings,
  context: { policy: RestartPolicy; listen: string; clock: Clock; log: Logger },
): Promise<OpenedLedger> {
  const { policy, clock, log } = context;
  const store = await openStore({ db: settings.db ?? defaultDatabasePath(process.env), clock, durability: settings.durability });
  const ledger = new SupervisorLedger({
    store,
    policy,
    name: context.listen,
    clock,
    onStoreTrouble: (message) => log.warn('supervisor-store', `supervisor: ${message}`, { source: 'supervisor' }),
  });
  try {
    return { store, ledger, start: await ledger.supervisorStarted(startDetail(policy)) };
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
}

/** How each worker's life is watched, from the settings; `fallbackUrl` is the front door's. */
function workerLifeSettings(settings: Settings, fallbackUrl: string): WorkerLifeSettings {
  return {
    startTimeoutMs: settings.startTimeout,
    livenessIntervalMs: settings.livenessInterval,
    livenessMisses: settings.livenessMisses,
    stableAfterMs: settings.stableAfter,
    stopTimeoutMs: settings.stopTimeout,
    fallbackUrl,
  };
}

async function superviseOnDoor(options: SuperviseOptions, door: FrontDoor, clock: Clock): Promise<number> {
  const { settings } = options;
  const writeStdout = options.writeStdout ?? ((text: string) => void process.stdout.write(text));
  const writeStderr = options.writeStderr ?? ((text: string) => void process.stderr.write(text));
  const policy = restartPolicyFrom(settings);
  const reachability = burstLimitReachable(policy);
  if (!reachability.reachable) writeStderr(`ratewarden: warning: ${unreachableBurstLine(policy, reachability)}\n`);

  const log = createLogger(settings.logFormat, writeStdout, clock);
  const stop = new StopRequests();
  // A stop closes the door at once: no new connection is taken while the worker finishes the ones it has.
  stop.graceful.addEventListener('abort', () => door.close(), { once: true });
  const listen = new URL(door.url).host;
  // The store and the supervisor's start in it: both must succeed before a worker starts (a read-only server waits too).
  const openLedger = (): Promise<OpenedLedger> => openSupervisorLedger(settings, { policy, listen, clock, log });
  let opened: OpenedLedger | null;
  try {
    opened = await openStoreWhenReachable(openLedger, { policy, door, log, stop: stop.graceful, clock });
  } catch (error) {
    stop.dispose();
    throw error;
  }
  if (opened === null) {
    stop.dispose();
    log.info('supervisor-stopped', `supervisor: stopped on ${stop.reason ?? 'a stop signal'} while waiting for its store`);
    return exitCodes.ok;
  }
  const { store, ledger, start } = opened;
  const heartbeat = new Heartbeat(store, { role: 'supervisor', pid: process.pid, startedAt: clock(), listen, upstream: settings.upstream });
  const loop = new RestartLoop(ledger, log, stop, policy, {
    command: options.workerCommand ?? supervisedWorkerCommand(options.userArgs),
    format: settings.logFormat,
    clock,
    writeStdout,
    writeStderr,
    life: workerLifeSettings(settings, door.url),
    door,
  });
  // The heartbeat also writes what the ledger kept while the store was away.
  const beat = (): Promise<void> => loop.bestEffort('heartbeat', () => heartbeat.beat().then(() => ledger.flush()));
  await beat();
  await loop.bestEffort('restart policy', () => heartbeat.recordPolicy(policy));
  const beating = setInterval(() => void beat(), supervisorHeartbeatMs);
  try {
    const exitCode = await loop.run(start);
    // What already waits in the backlog hears "gave-up" before the socket closes.
    if (exitCode === exitCodes.gaveUp) await sleep(gaveUpLingerMs);
    return exitCode;
  } finally {
    clearInterval(beating);
    stop.dispose();
    loop.killLeftover();
    await loop.bestEffort('heartbeat', () => heartbeat.forget());
    await ledger.close().catch(() => undefined);
  }
}
