import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/core/statusReport.js';
import { openStore } from '../../src/store/openStore.js';
import { Heartbeat } from '../../src/warden/heartbeat.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { ansiEscape, cliEnv, openWarden, runCli } from './operatorCli.js';

const dirs = new ScratchDirs();
afterEach(() => dirs.removeAll());

const scopeName = (index: number): string => `${index.toString(16).padStart(2, '0').padEnd(16, 'a')}/claude-sonnet`;
const cooling = (index: number): boolean => index % 5 !== 0 && index % 5 !== 3;

/**
 * 50 scopes on one database, 30 of them cooling after an upstream 429 (interleaved with the
 * healthy ones, which are the busiest); one large reservation in flight; two workers, one with
 * requests waiting in its queue.
 */
async function fleetOfScopes(db: string): Promise<void> {
  const warden = await openWarden(db);
  try {
    let coolingCount = 0;
    for (let index = 0; index < 50; index++) {
      const scope = scopeName(index);
      const admission = await warden.admit({
        method: 'POST',
        path: '/v1/messages',
        estimate: { inputTokens: 500, outputTokens: 500 },
        scope,
      });
      if (admission.kind !== 'admitted') throw new Error(`scope ${scope} refused: ${admission.message}`);
      if (cooling(index) && coolingCount < 30) {
        coolingCount += 1;
        await warden.upstream429(admission.requestId, { retryAfterMs: 600_000 });
      } else {
        // The healthy scopes are the busy ones: busiest first would have hidden every cooling scope.
        await warden.settle(admission.requestId, {
          outcome: 'ok',
          status: 200,
          usage: { inputTokens: 5_000 + index, outputTokens: 1_000 },
        });
      }
    }
    if (coolingCount !== 30) throw new Error(`made ${coolingCount} cooling scopes, not 30`);
    const held = await warden.admit({
      method: 'POST',
      path: '/v1/messages',
      estimate: { inputTokens: 3_000, outputTokens: 30_000 },
      scope: scopeName(0),
      model: 'claude-sonnet-4-5',
    });
    if (held.kind !== 'admitted') throw new Error('the large request was refused');
  } finally {
    await warden.close();
  }
  const store = await openStore({ db, clock: Date.now });
  try {
    const waiting = { length: 2, oldestWaitMs: 4_000, scopes: [{ scope: scopeName(3), length: 2, oldestWaitMs: 4_000 }] };
    await new Heartbeat(
      store,
      {
        role: 'worker',
        pid: process.pid,
        startedAt: Date.now() - 5_000,
        listen: 'http://127.0.0.1:8787',
        upstream: 'https://api.anthropic.com',
      },
      () => waiting,
    ).beat();
    await new Heartbeat(store, {
      role: 'worker',
      pid: process.ppid,
      startedAt: Date.now() - 5_000,
      listen: 'http://127.0.0.1:8788',
      upstream: 'https://api.openai.com',
    }).beat();
  } finally {
    await store.close();
  }
}

describe('ratewarden status on one screen', () => {
  it('fits 50 scopes, 30 of them cooling, in 30 lines of a 50-row terminal, trouble first, with both workers, the queue and the largest reservation', async () => {
    const home = dirs.make('ratewarden-screen-');
    const db = join(home, 'rw.db');
    await fleetOfScopes(db);
    const env = cliEnv(home, { LINES: '50' });

    const result = await runCli(['status', '--db', db], env);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).not.toMatch(ansiEscape);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(30);
    expect(lines[0]).toMatch(/^ratewarden status/);
    expect(result.stdout).toMatch(/● running\s+pid \d+ · http:\/\/127\.0\.0\.1:8787 .*→ https:\/\/api\.anthropic\.com/);
    expect(result.stdout).toMatch(/● running\s+pid \d+ · http:\/\/127\.0\.0\.1:8788 .*→ https:\/\/api\.openai\.com/);
    expect(result.stdout).toMatch(/queue\s+2 requests waiting · oldest \d+(\.\d)?s · claude-sonnet · key 03aaaaaa 2/);
    expect(result.stdout).toMatch(/in flight\s+largest reservations: 33,000 tokens claude-sonnet · key 00aaaaaa/);
    // The 50, and `default`, which is always listed.
    expect(result.stdout).toContain('51 active scopes · 30 cooling · 1 queued');

    // Every table row shown is a cooling scope (the busiest healthy ones come after all 30).
    const tableRows = lines.filter((line) => /^claude-sonnet · key /.test(line));
    expect(tableRows.length).toBeGreaterThanOrEqual(15);
    expect(tableRows.every((line) => /\bcooling \d/.test(line))).toBe(true);
    expect(lines.at(-2)).toMatch(/^… and \d+ more \(\d+ cooling · 1 queued\): status --json lists every one/);

    const json = JSON.parse((await runCli(['status', '--db', db, '--json'], env)).stdout) as StatusReport;
    expect(json.scopes).toHaveLength(51);
    expect(json.scopes.slice(0, 30).every((line) => line.trouble === 'cooling')).toBe(true);
    expect(json.scopes[30]).toMatchObject({ scope: scopeName(3), trouble: 'queued', queued: 2 });
    expect(json.scope).toBe(json.scopes[0]?.scope);
    expect(json.queue.length).toBe(2);
    expect(json.reservations[0]).toMatchObject({
      scope: scopeName(0),
      inputTokens: 3_000,
      outputTokens: 30_000,
      model: 'claude-sonnet-4-5',
    });
    expect(json.upstreams.sort()).toEqual(['https://api.anthropic.com', 'https://api.openai.com']);
  });

  it('fits a 24-row terminal too, and shows one scope in detail when asked', async () => {
    const home = dirs.make('ratewarden-screen-');
    const db = join(home, 'rw.db');
    await fleetOfScopes(db);
    const small = await runCli(['status', '--db', db], cliEnv(home, { LINES: '24' }));
    expect(small.stdout.trimEnd().split('\n').length).toBeLessThanOrEqual(23);
    const detail = await runCli(['status', '--db', db, '--scope', scopeName(3)], cliEnv(home, { LINES: '50' }));
    expect(detail.exitCode).toBe(0);
    expect(detail.stdout).toContain(`Scope claude-sonnet · key 03aaaaaa  ${scopeName(3)}`);
    expect(detail.stdout).toContain('Budget and controller');
  });
});
