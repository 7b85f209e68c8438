import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReplayResult } from '../../src/sim/replay.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { cliEnv, runCli } from './operatorCli.js';

const dirs = new ScratchDirs();
afterEach(() => dirs.removeAll());

/** Processes whose command line mentions `text`: anything the demo left running. */
function processesMentioning(text: string): string[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        return command.includes(text) ? [`${pid}: ${command}`] : [];
      } catch {
        return [];
      }
    });
}

describe('ratewarden demo', () => {
  it('replays the incident three ways: ratewarden never forwards during a cooldown, keeps it through every crash, records no zero-token sample; the amnesia run loops', async () => {
    const home = dirs.make();
    const tmp = dirs.make('ratewarden-demo-tmp-');
    // Seed 13 storms from about 6 s to 18 s (the second tenant keeps the bucket empty), with scheduled crashes at about 10 s and 17 s inside it.
    const result = await runCli(
      [
        'demo',
        '--json',
        '--duration',
        '20s',
        '--seed',
        '13',
        '--crash-every',
        '6s',
        '--storm-every',
        '16s',
        '--crash-after-429s',
        '3',
        '--clients',
        '12',
      ],
      cliEnv(home, { TMPDIR: tmp }),
    );
    expect(result.stderr).not.toMatch(/ratewarden: /);
    expect(result.exitCode).toBe(0);
    const replay = JSON.parse(result.stdout) as ReplayResult;
    const { direct, amnesia, ratewarden } = replay.runs;

    // The direct run: the same clients, no proxy, nothing to crash.
    expect(direct).toMatchObject({ setup: 'direct', restarts: 0, crashes: 0, forwardedDuringCooldown: null });
    expect(direct.clients.ok).toBeGreaterThan(0);

    expect(ratewarden.endedBy).toBeNull();
    expect(ratewarden.crashes).toBeGreaterThanOrEqual(2);
    expect(ratewarden.forwardedDuringCooldown).toBe(0);
    expect(ratewarden.forwardedDuringCooldownSeenByClients).toBe(0);
    expect(ratewarden.crashesDuringCooldown).toBeGreaterThanOrEqual(1);
    expect(ratewarden.cooldownsSurvivingCrash).toBe(ratewarden.crashesDuringCooldown);
    expect(ratewarden.zeroTokenSamples).toBe(0);

    // The seed's setup on the same seed: every life forgets the storm, sends into it and dies of its 429s.
    expect(amnesia.crashes).toBeGreaterThanOrEqual(2);
    expect(amnesia.zeroTokenSamples).toBeGreaterThan(0);
    expect(amnesia.upstream429s).toBeGreaterThan(ratewarden.upstream429s);
    expect(amnesia.restartsAfter429s).toBeGreaterThan(ratewarden.restartsAfter429s);
    expect(amnesia.forwardedDuringCooldown).toBeGreaterThan(0);

    expect(readdirSync(tmp)).toEqual([]);
    expect(processesMentioning(tmp)).toEqual([]);
  });

  it('prints the three columns, the rows and one line that says what they show', async () => {
    const home = dirs.make();
    const result = await runCli(['demo', '--duration', '3s', '--crash-every', '0', '--storm-every', '0', '--clients', '2'], cliEnv(home));
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines.find((line) => line.includes('direct') && line.includes('amnesia') && line.includes('ratewarden'))).toBeDefined();
    for (const row of [
      'upstream 429s',
      'requests sent inside an announced Retry-After',
      'requests forwarded during an active cooldown',
      'restarts (caused by 429s)',
      'goodput: tokens served / upstream capacity',
      'rate-limited after retries',
      'connection refused',
      '5xx',
      'zero-token samples recorded',
      'token budget over the run',
    ]) {
      expect(lines.some((line) => line.trimStart().startsWith(row))).toBe(true);
    }
    // The story before the table: the incident, the columns, the crashes on purpose; time in words.
    expect(lines[1]).toMatch(/^The incident: /);
    expect(lines[2]).toMatch(/^The columns: direct = .*no proxy; amnesia = .*forgot its state.*; ratewarden = /);
    expect(lines[3]).toMatch(/^Both proxies are made to crash on purpose: whenever they see 3 upstream 429s in a window/);
    expect(result.stdout).toMatch(/^30 seconds of incident time in 3 s /m);
    expect(result.stdout).not.toMatch(/real;/);
    expect(result.stdout).toMatch(
      /^What ratewarden changed against no proxy: upstream 429s \d+ → \d+ .*goodput \d+ % → \d+ %.*; client-visible failures \d+ → \d+\. The amnesia run/m,
    );
    expect(result.stderr).toMatch(/direct .*done/);
    // No "starting the proxy" for the column that has none.
    expect(result.stderr).not.toMatch(/direct +starting the proxy/);
  });

  it('refuses a bad flag with one line and exit code 2, before starting anything', async () => {
    const home = dirs.make();
    const result = await runCli(['demo', '--duration', 'soon'], cliEnv(home));
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('--duration: "soon" is not a duration');
  });
});
