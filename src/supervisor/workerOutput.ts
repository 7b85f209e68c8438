import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { LogFormat } from '../kernel/log.js';

export type WorkerStream = 'stdout' | 'stderr';

/**
 * Passes one of the worker's streams through line by line, marked so that a reader can tell the
 * worker from the supervisor: `[worker 1234] …` as text; as JSON, the worker's own JSON line
 * with `source` and `workerPid` added (anything else wrapped into such a line).
 */
export function passThrough(
  input: Readable,
  stream: WorkerStream,
  workerPid: number | null,
  format: LogFormat,
  write: (line: string) => void,
  now: () => number,
): Promise<void> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  lines.on('line', (line) =>
    write(`${format === 'json' ? asJsonLine(line, stream, workerPid, now) : `[worker ${workerPid ?? '?'}] ${line}`}\n`),
  );
  return new Promise((resolve) => lines.once('close', resolve));
}

function asJsonLine(line: string, stream: WorkerStream, workerPid: number | null, now: () => number): string {
  const parsed = parseObject(line);
  if (parsed !== null) return JSON.stringify({ ...parsed, source: 'worker', workerPid });
  return JSON.stringify({
    time: new Date(now()).toISOString(),
    level: stream === 'stderr' ? 'warn' : 'info',
    event: 'worker-output',
    message: line,
    source: 'worker',
    workerPid,
    stream,
  });
}

function parseObject(line: string): Record<string, unknown> | null {
  if (!line.startsWith('{')) return null;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
