import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { defaultLimiterPolicy, type LimiterPolicy } from '../../src/core/types.js';
import { openDatabase } from '../../src/store/sqlite/open.js';
import type { Warden } from '../../src/warden/warden.js';
import { openSqliteWarden } from '../helpers/sqliteWarden.js';

export const binary = fileURLToPath(new URL('../../bin/ratewarden', import.meta.url));

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment a user's shell would give the CLI, minus anything of ours or about colours,
 * with the config and state folders inside `home` so that nothing outside the test is read.
 */
export function cliEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.startsWith('RATEWARDEN_') || key === 'NO_COLOR' || key === 'FORCE_COLOR') continue;
    env[key] = value;
  }
  return { ...env, XDG_CONFIG_HOME: join(home, 'config'), XDG_STATE_HOME: join(home, 'state'), ...extra };
}

/** The e2e tests run the built CLI, as a user does: `npm test` builds it first. */
export function requireBuild(): void {
  if (!existsSync(fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url)))) {
    throw new Error('dist/cli/main.js is missing: run "npm run build" before the e2e tests (npm test does)');
  }
}

export async function runCli(args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  requireBuild();
  const result = await execa(binary, args, { env, extendEnv: false, reject: false, stdin: 'ignore' });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** The limiter policy the test's warden uses to make state: budgets the status must show. */
export const preparedPolicy: LimiterPolicy = { ...defaultLimiterPolicy, tokenBudget: 40_000, requestBudget: 50 };

export function openWarden(dbPath: string, policy: LimiterPolicy = preparedPolicy): Promise<Warden> {
  return openSqliteWarden(dbPath, { policy, clock: Date.now });
}

/** Three settled requests of 2,400 tokens each, then an upstream 429 that starts a cooldown. */
export async function prepareCooldown(dbPath: string, retryAfterMs = 45_000): Promise<void> {
  const warden = await openWarden(dbPath);
  try {
    for (let i = 0; i < 3; i++) {
      const admission = await warden.admit({ method: 'POST', path: '/v1/messages', estimate: { inputTokens: 1_000, outputTokens: 2_000 } });
      if (admission.kind !== 'admitted') throw new Error(`request ${i} was refused: ${admission.message}`);
      await warden.settle(admission.requestId, { outcome: 'ok', status: 200, usage: { inputTokens: 900, outputTokens: 1_500 } });
    }
    const limited = await warden.admit({ method: 'POST', path: '/v1/messages', estimate: { inputTokens: 1_000, outputTokens: 2_000 } });
    if (limited.kind !== 'admitted') throw new Error(`the request meeting the 429 was refused: ${limited.message}`);
    await warden.upstream429(limited.requestId, { retryAfterMs });
    await warden.tick();
  } finally {
    await warden.close();
  }
}

/** Reads rows through a read-only connection, as any observer would. */
export function queryRows<T>(dbPath: string, sql: string): T[] {
  const db = openDatabase(dbPath, { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

export function fileDigest(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export const ansiEscape = /\x1b\[/;
