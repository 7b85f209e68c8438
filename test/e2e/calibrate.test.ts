import { existsSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { CalibrationReport } from '../../src/core/calibrationReport.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { cliEnv, prepareCooldown, queryRows, runCli } from './operatorCli.js';

const dirs = new ScratchDirs();
afterEach(() => dirs.removeAll());

interface CalibrateJson extends CalibrationReport {
  database: string;
  prune: { dryRun: boolean; zeroTokenSamples: number; removed: number; actor: string | null } | null;
}

/** A database with two real samples (a 429 and a window) and three zero-token ones, as an old ratewarden left them. */
async function withZeroSamples(): Promise<{ db: string; env: Record<string, string> }> {
  const home = dirs.make('ratewarden-calibrate-');
  const db = join(home, 'rw.db');
  await prepareCooldown(db);
  // ratewarden never records a zero-token sample, so the test writes them itself.
  const raw = new BetterSqlite3(db);
  try {
    const insert = raw.prepare('INSERT INTO calibration_samples (at, kind, tokens, requests, window_ms) VALUES (?, ?, 0, ?, 60000)');
    insert.run(Date.now() - 3_000, 'window', 0);
    insert.run(Date.now() - 2_000, 'window', 1);
    insert.run(Date.now() - 1_000, 'upstream-429', 1);
  } finally {
    raw.close();
  }
  return { db, env: cliEnv(home) };
}

const zeroRows = (db: string): number =>
  queryRows<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM calibration_samples WHERE tokens = 0')[0]?.n ?? -1;
const auditRows = (db: string) =>
  queryRows<{ action: string; actor: string; detail: string }>(db, 'SELECT action, actor, detail FROM audit_log ORDER BY id');

describe('ratewarden calibrate', () => {
  it('summarises the samples by kind, the zero-token ones and the estimate', async () => {
    const { db, env } = await withZeroSamples();
    const human = await runCli(['calibrate', '--db', db], env);
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toContain('5 samples');
    expect(human.stdout).toContain('3 samples with zero tokens');
    expect(human.stdout).toContain('--prune-zero');
    expect(human.stdout).toMatch(/upstream-429\s+2 \(median 7,200/);
    expect(human.stdout).toContain('7,200 tokens');
    expect(human.stdout).toContain('basis upstream-429');

    const json = JSON.parse((await runCli(['calibrate', '--db', db, '--json'], env)).stdout) as CalibrateJson;
    expect(json.samples).toBe(5);
    expect(json.zeroTokenSamples).toBe(3);
    expect(json.byKind.map((kind) => [kind.kind, kind.count, kind.zeroTokens])).toEqual([
      ['upstream-429', 2, 1],
      ['reported-limit', 0, 0],
      ['window', 3, 2],
    ]);
    expect(json.estimate).toMatchObject({ basis: 'upstream-429', tokens: 7_200, samples: 1 });
    expect(json.prune).toBeNull();
  });

  it('--prune-zero --dry-run only counts: nothing removed, nothing audited', async () => {
    const { db, env } = await withZeroSamples();
    const human = await runCli(['calibrate', '--db', db, '--prune-zero', '--dry-run'], env);
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toContain('Dry run: would remove 3 zero-token samples; nothing was changed.');
    const json = JSON.parse((await runCli(['calibrate', '--db', db, '--prune-zero', '--dry-run', '--json'], env)).stdout) as CalibrateJson;
    expect(json.prune).toEqual({ dryRun: true, zeroTokenSamples: 3, removed: 0, actor: null });
    expect(zeroRows(db)).toBe(3);
    expect(auditRows(db)).toEqual([]);
  });

  it('--prune-zero deletes every zero-token sample, keeps the others and writes one audit_log entry', async () => {
    const { db, env } = await withZeroSamples();
    const result = await runCli(['calibrate', '--db', db, '--prune-zero', '--json'], env);
    expect(result.exitCode).toBe(0);
    const json = JSON.parse(result.stdout) as CalibrateJson;
    expect(json.prune).toMatchObject({ dryRun: false, zeroTokenSamples: 3, removed: 3 });
    expect(json.prune?.actor).toMatch(/^.+@.+ \(pid \d+\)$/);
    expect(json.samples).toBe(2);
    expect(json.zeroTokenSamples).toBe(0);
    expect(zeroRows(db)).toBe(0);
    const audit = auditRows(db);
    expect(audit).toHaveLength(1);
    expect(audit[0]?.action).toBe('prune-zero-samples');
    expect(JSON.parse(audit[0]?.detail ?? '{}')).toEqual({ removed: 3 });

    const again = await runCli(['calibrate', '--db', db, '--prune-zero'], env);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('Removed 0 zero-token samples');
  });

  it('refuses --dry-run without --prune-zero (exit 2) and a missing database (exit 3, no file created)', async () => {
    const { db, env } = await withZeroSamples();
    const dry = await runCli(['calibrate', '--db', db, '--dry-run'], env);
    expect(dry.exitCode).toBe(2);
    expect(dry.stderr).toContain('--dry-run only applies to --prune-zero');

    const missing = join(db, '..', 'missing.db');
    for (const args of [[], ['--prune-zero'], ['--prune-zero', '--dry-run']]) {
      const result = await runCli(['calibrate', '--db', missing, ...args], env);
      expect(result.exitCode).toBe(3);
      expect(result.stderr).toContain(missing);
      expect(existsSync(missing)).toBe(false);
    }
  });
});
