import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/core/statusReport.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { cliEnv, openWarden, runCli } from './operatorCli.js';

const dirs = new ScratchDirs();
afterEach(() => dirs.removeAll());

const opusA = '0123456789abcdef/claude-opus';
const haikuA = '0123456789abcdef/claude-haiku';
const haikuB = 'fedcba9876543210/claude-haiku';

function setUp(): { db: string; env: Record<string, string> } {
  const home = dirs.make('ratewarden-scopes-');
  return { db: join(home, 'rw.db'), env: cliEnv(home) };
}

/** Three scopes as a proxy leaves them: Opus on key A cooling after a 429; Haiku on key A the busiest; Haiku on key B light. */
async function prepareScopes(db: string): Promise<void> {
  const warden = await openWarden(db);
  try {
    const traffic = async (scope: string, count: number, tokens: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        const admission = await warden.admit({
          method: 'POST',
          path: '/v1/messages',
          estimate: { inputTokens: tokens, outputTokens: 100 },
          scope,
        });
        if (admission.kind !== 'admitted') throw new Error(`${scope} request ${i} was refused: ${admission.message}`);
        await warden.settle(admission.requestId, { outcome: 'ok', status: 200, usage: { inputTokens: tokens, outputTokens: 100 } });
      }
    };
    await traffic(haikuA, 3, 2_000);
    await traffic(opusA, 1, 500);
    await traffic(haikuB, 1, 100);
    const limited = await warden.admit({
      method: 'POST',
      path: '/v1/messages',
      estimate: { inputTokens: 500, outputTokens: 100 },
      scope: opusA,
    });
    if (limited.kind !== 'admitted') throw new Error(limited.message);
    await warden.upstream429(limited.requestId, { retryAfterMs: 45_000 });
    await warden.tick();
  } finally {
    await warden.close();
  }
}

async function statusJson(db: string, env: Record<string, string>, extra: string[] = []): Promise<StatusReport> {
  const result = await runCli(['status', '--db', db, '--json', ...extra], env);
  expect(result.exitCode, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as StatusReport;
}

describe('scopes through the built CLI', () => {
  it('status lists every active scope, trouble first then the busiest, and shows one in detail with --scope', async () => {
    const { db, env } = setUp();
    await prepareScopes(db);

    const all = await statusJson(db, env);
    // The cooling scope first (trouble first), then the busiest; the detail is of the one in trouble.
    expect(all.scopes.map((line) => line.scope)).toEqual([opusA, haikuA, haikuB, 'default']);
    expect(all.scope).toBe(opusA);
    expect(all.cooldown.active).toBe(true);
    expect(all.scopes.find((line) => line.scope === opusA)).toMatchObject({
      phase: 'cooling',
      consecutive429s: 1,
      backoffLevel: 1,
      windowRequests: 2,
    });
    expect(all.scopes.find((line) => line.scope === haikuA)).toMatchObject({ phase: 'closed', windowRequests: 3, windowTokens: 6_300 });

    const opus = await statusJson(db, env, ['--scope', opusA]);
    expect(opus.scope).toBe(opusA);
    expect(opus.cooldown).toMatchObject({ active: true, consecutive429s: 1, backoffLevel: 1 });
    expect(opus.window).toMatchObject({ requestsUsed: 2 });
    expect(opus.recent429s).toHaveLength(1);

    const human = await runCli(['status', '--db', db], env);
    expect(human.exitCode).toBe(0);
    const table = human.stdout.split('\n');
    const labelOf = (scope: string): string => all.scopes.find((line) => line.scope === scope)?.label ?? scope;
    const lineOf = (scope: string): number => table.findIndex((line) => line.startsWith(labelOf(scope)));
    expect(lineOf(opusA)).toBeGreaterThan(0);
    expect(lineOf(opusA)).toBeLessThan(lineOf(haikuA));
    expect(lineOf(haikuA)).toBeLessThan(lineOf(haikuB));
    expect(table[lineOf(opusA)]).toMatch(/cooling/);

    const unknown = await runCli(['status', '--db', db, '--scope', 'nope/claude-opus'], env);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toMatch(/--scope: this database has no scope "nope\/claude-opus"/);
  });

  it('reset-cooldown --scope clears that scope only; without it, every scope', async () => {
    const { db, env } = setUp();
    await prepareScopes(db);

    const other = JSON.parse((await runCli(['reset-cooldown', '--db', db, '--scope', haikuB, '--json'], env)).stdout) as {
      anything: boolean;
      scope: string;
    };
    expect(other).toMatchObject({ anything: false, scope: haikuB });
    expect((await statusJson(db, env, ['--scope', opusA])).cooldown.active).toBe(true);

    const reset = await runCli(['reset-cooldown', '--db', db, '--scope', opusA, '--json'], env);
    expect(reset.exitCode).toBe(0);
    expect(JSON.parse(reset.stdout)).toMatchObject({
      anything: true,
      scope: opusA,
      consecutive429s: 1,
      scopes: [{ scope: opusA, anything: true, backoffLevel: 1 }],
    });
    expect((await statusJson(db, env, ['--scope', opusA])).cooldown).toMatchObject({ active: false, consecutive429s: 0, backoffLevel: 0 });

    // Two scopes cooling: the default clears both.
    const warden = await openWarden(db);
    try {
      for (const scope of [haikuA, haikuB]) {
        const limited = await warden.admit({
          method: 'POST',
          path: '/v1/messages',
          estimate: { inputTokens: 10, outputTokens: 10 },
          scope,
        });
        if (limited.kind !== 'admitted') throw new Error(limited.message);
        await warden.upstream429(limited.requestId, { retryAfterMs: 45_000 });
      }
    } finally {
      await warden.close();
    }
    const everything = await runCli(['reset-cooldown', '--db', db], env);
    expect(everything.exitCode).toBe(0);
    expect(everything.stdout).toMatch(/^Cleared 2 scopes: /);
    expect(everything.stdout).toContain(haikuA);
    expect(everything.stdout).toContain(haikuB);
    expect(everything.stdout).not.toContain(opusA);
    const after = await statusJson(db, env);
    expect(after.scopes.every((line) => line.phase === 'closed')).toBe(true);

    const unknown = await runCli(['reset-cooldown', '--db', db, '--scope', 'nope'], env);
    expect(unknown.exitCode).toBe(2);
  });

  it('calibrate reports per scope; --scope one of them', async () => {
    const { db, env } = setUp();
    await prepareScopes(db);
    const all = await runCli(['calibrate', '--db', db, '--json'], env);
    expect(all.exitCode, all.stderr).toBe(0);
    const report = JSON.parse(all.stdout) as {
      scope: string;
      scopes: { scope: string; samples: number; byKind: { kind: string; count: number }[] }[];
    };
    const opus = report.scopes.find((entry) => entry.scope === opusA);
    expect(opus?.byKind.find((kind) => kind.kind === 'upstream-429')?.count).toBe(1);
    expect(report.scopes.find((entry) => entry.scope === haikuA)?.byKind.find((kind) => kind.kind === 'upstream-429')?.count ?? 0).toBe(0);

    const one = JSON.parse((await runCli(['calibrate', '--db', db, '--scope', opusA, '--json'], env)).stdout) as {
      scope: string;
      scopes: unknown[];
      samples: number;
    };
    expect(one.scope).toBe(opusA);
    expect(one.scopes).toHaveLength(1);
    expect(one.samples).toBe(opus?.samples);
    const human = await runCli(['calibrate', '--db', db], env);
    expect(human.stdout).toContain(`Scope ${opusA}`);
  });
});
