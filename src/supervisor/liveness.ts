import { get } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { healthPath } from '../kernel/workerProtocol.js';

/**
 * One GET of the worker's health endpoint: an answer within the timeout is a hit when it is 200,
 * or 503 — a worker failing closed (its store locked, full or gone) is alive and says why, and
 * killing it would only cut its streams and earn a restart that cannot fix the store. No answer,
 * an error or any other status is a miss.
 */
export function probeHealth(baseUrl: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = get(new URL(healthPath, baseUrl), { agent: false, timeout: timeoutMs }, (response) => {
      response.resume();
      resolve(response.statusCode === 200 || response.statusCode === 503);
    });
    request.on('timeout', () => request.destroy(new Error('health probe timed out')));
    request.on('error', () => resolve(false));
  });
}

export interface LivenessOptions {
  url: string;
  intervalMs: number;
  misses: number;
  signal: AbortSignal;
}

/**
 * Probes every interval (a probe may take up to one interval) and resolves with the number of
 * misses once `misses` probes in a row have failed; stays pending while the worker answers, and
 * resolves with null once aborted.
 */
export async function watchLiveness({ url, intervalMs, misses, signal }: LivenessOptions): Promise<number | null> {
  let missed = 0;
  while (!signal.aborted) {
    const started = Date.now();
    const healthy = await probeHealth(url, intervalMs);
    if (signal.aborted) return null;
    missed = healthy ? 0 : missed + 1;
    if (missed >= misses) return missed;
    const slept = await sleep(Math.max(0, intervalMs - (Date.now() - started)), true, { signal }).catch(() => false);
    if (!slept) return null;
  }
  return null;
}
