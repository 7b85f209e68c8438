import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runIncident, type RunProgress } from './incidentRun.js';
import { measureIncident, type IncidentFigures } from './incidentMeasures.js';
import { setupNames, timeScale, upstreamShape, type ReplayOptions, type SetupName } from './incidentScenario.js';

export interface ReplayResult {
  options: ReplayOptions;
  timeScale: number;
  windowMs: number;
  tokenLimit: number;
  runs: Record<SetupName, IncidentFigures>;
}

/**
 * The incident twice, side by side and at the same time: the same load, crash schedule, storms
 * and seed against the amnesia setup and against ratewarden. Each run has its own upstream and
 * temporary folder; everything is removed again, also when the replay fails or is aborted.
 */
export async function runReplay(options: ReplayOptions, onProgress: (progress: RunProgress) => void, signal: AbortSignal): Promise<ReplayResult> {
  const workDir = mkdtempSync(join(tmpdir(), 'ratewarden-replay-'));
  // One run failing stops the other at once instead of letting it play out.
  const bothRuns = new AbortController();
  const abortBoth = (): void => bothRuns.abort(signal.reason);
  signal.addEventListener('abort', abortBoth, { once: true });
  try {
    const settled = await Promise.allSettled(
      setupNames.map(async (setup) => {
        const dir = mkdtempSync(join(workDir, `${setup}-`));
        try {
          return measureIncident(await runIncident(setup, options, dir, onProgress, bothRuns.signal));
        } catch (error) {
          bothRuns.abort(error);
          throw error;
        }
      }),
    );
    const failure = settled.find((outcome) => outcome.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
    const [amnesia, ratewarden] = settled.map((outcome) => (outcome as PromiseFulfilledResult<IncidentFigures>).value) as [IncidentFigures, IncidentFigures];
    return { options, timeScale, windowMs: upstreamShape.windowMs, tokenLimit: upstreamShape.tokenLimit, runs: { amnesia, ratewarden } };
  } finally {
    signal.removeEventListener('abort', abortBoth);
    rmSync(workDir, { recursive: true, force: true });
  }
}
