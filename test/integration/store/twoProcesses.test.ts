import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/store/sqlite/open.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const worker = fileURLToPath(new URL('../../helpers/admitUntilFull.ts', import.meta.url));
const tokensPerRequest = 50;

interface WorkerReport {
  pid: number;
  admitted: number;
  rejected: number;
  unavailable: number;
}

const scratch = new ScratchDirs();
const children: ResultPromise[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    await child.catch(() => undefined);
  }
  scratch.removeAll();
});

function startWorker(dbPath: string, tokenBudget: string, requestBudget: string): ResultPromise {
  const child = execa(process.execPath, ['--import', 'tsx', worker, dbPath, tokenBudget, requestBudget], { cwd: repoRoot, stdin: 'pipe' });
  children.push(child);
  return child;
}

/** Resolves when the child has printed `line` (on a line of its own) since it started. */
function printed(child: ResultPromise, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.split('\n').includes(line)) resolve();
    });
    child.catch(reject);
  });
}

/**
 * Both processes open the same new file; at a first barrier both start admitting; at a second
 * one, each has admitted once and neither can have used up the budget; then both race. So both
 * admit and both are admitting at once by construction, however the OS schedules them.
 */
async function race(dbPath: string, tokenBudget: string, requestBudget: string): Promise<WorkerReport[]> {
  const pair = [startWorker(dbPath, tokenBudget, requestBudget), startWorker(dbPath, tokenBudget, requestBudget)];
  const admittedOne = pair.map((child) => printed(child, 'admitted-one'));
  await Promise.all(pair.map((child) => printed(child, 'ready')));
  for (const child of pair) child.stdin?.write('go\n');
  await Promise.all(admittedOne);
  for (const child of pair) child.stdin?.end('race\n');
  const results = await Promise.all(pair);
  return results.map((result) => JSON.parse(String(result.stdout).trim().split('\n').at(-1) as string) as WorkerReport);
}

function recorded(dbPath: string): { requests: number; tokens: number; switches: number } {
  const db = openDatabase(dbPath, { readonly: true });
  try {
    const totals = db.prepare('SELECT COUNT(*) AS requests, SUM(est_input_tokens + est_output_tokens) AS tokens FROM requests').get() as {
      requests: number;
      tokens: number;
    };
    const pids = (db.prepare('SELECT worker_pid FROM requests ORDER BY id').all() as { worker_pid: number }[]).map((row) => row.worker_pid);
    const switches = pids.filter((pid, index) => index > 0 && pid !== pids[index - 1]).length;
    return { ...totals, switches };
  } finally {
    db.close();
  }
}

describe('two processes on one database file', () => {
  it('never admit beyond the token budget together', async () => {
    const dbPath = join(scratch.make(), 'shared.db');
    const tokenBudget = 150_000;
    const reports = await race(dbPath, String(tokenBudget), 'none');
    const admitted = reports.reduce((sum, report) => sum + report.admitted, 0);
    expect(reports.every((report) => report.unavailable === 0)).toBe(true);
    expect(admitted * tokensPerRequest).toBe(tokenBudget);
    const db = recorded(dbPath);
    expect(db.requests).toBe(admitted);
    expect(db.tokens).toBeLessThanOrEqual(tokenBudget);
    // Both processes admitted on the one file (guaranteed by the barriers, not by luck).
    expect(reports.every((report) => report.admitted > 0)).toBe(true);
    expect(db.switches).toBeGreaterThanOrEqual(1);
  });

  it('never admit beyond the request budget together', async () => {
    const dbPath = join(scratch.make(), 'shared.db');
    const requestBudget = 3_000;
    const reports = await race(dbPath, 'none', String(requestBudget));
    const admitted = reports.reduce((sum, report) => sum + report.admitted, 0);
    expect(reports.every((report) => report.unavailable === 0)).toBe(true);
    expect(admitted).toBe(requestBudget);
    const db = recorded(dbPath);
    expect(db.requests).toBe(requestBudget);
    expect(reports.every((report) => report.admitted > 0)).toBe(true);
    expect(db.switches).toBeGreaterThanOrEqual(1);
  });
});
