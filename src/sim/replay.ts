import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runIncident, type RunProgress } from './incidentRun.js';
import { measureIncident, type IncidentFigures } from './incidentMeasures.js';
import { setupNames, timeScale, upstreamShape, type ReplayOptions, type SetupName } from './incidentScenario.js';
import type { LoadStarter } from './loadGenerator.js';

export interface ReplayResult {
  options: ReplayOptions;
  timeScale: number;
  windowMs: number;
  tokenLimit: number;
  /** Which clients drove the load: the demo's simulated ones, or the official SDK (bench:replay). */
  clients: string;
  runs: Record<SetupName, IncidentFigures>;
}

export interface ClientKind {
  name: string;
  start: LoadStarter;
}

/**
 * The incident three times, side by side and at the same time: the same load, crash schedule,
 * second tenant and seed, with no proxy, against the amnesia setup and against ratewarden. Each
 * run has its own upstream and temporary folder; everything is removed again, also when the
 * replay fails or is aborted.
 */
export async function runReplay(
  options: ReplayOptions,
  onProgress: (progress: RunProgress) => void,
  signal: AbortSignal,
  clients?: ClientKind,
): Promise<ReplayResult> {
  const workDir = mkdtempSync(join(tmpdir(), 'ratewarden-replay-'));
  // One run failing stops the others at once instead of letting them play out.
  const allRuns = new AbortController();
  const abortAll = (): void => allRuns.abort(signal.reason);
  signal.addEventListener('abort', abortAll, { once: true });
  try {
    const settled = await Promise.allSettled(
      setupNames.map(async (setup) => {
        const dir = mkdtempSync(join(workDir, `${setup}-`));
        try {
          return measureIncident(await runIncident(setup, options, dir, onProgress, allRuns.signal, clients?.start));
        } catch (error) {
          allRuns.abort(error);
          throw error;
        }
      }),
    );
    const failure = settled.find((outcome) => outcome.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
    const figures = settled.map((outcome) => (outcome as PromiseFulfilledResult<IncidentFigures>).value);
    const runs = Object.fromEntries(figures.map((run) => [run.setup, run])) as Record<SetupName, IncidentFigures>;
    return {
      options,
      timeScale,
      windowMs: upstreamShape.windowMs,
      tokenLimit: upstreamShape.tokenLimit,
      clients: clients?.name ?? 'simulated',
      runs,
    };
  } finally {
    signal.removeEventListener('abort', abortAll);
    rmSync(workDir, { recursive: true, force: true });
  }
}
