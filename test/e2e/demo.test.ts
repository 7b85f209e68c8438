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
  it('replays the incident: ratewarden never forwards during a cooldown, keeps it through every crash, records no zero-token sample; the amnesia run loops', async () => {
    const home = dirs.make();
    const tmp = dirs.make('ratewarden-demo-tmp-');
    // Seed 13 puts an upstream storm from about 6 s to 18 s, with crashes at about 10 s and 17 s inside it.
    const result = await runCli(['demo', '--json', '--duration', '24s', '--seed', '13', '--crash-every', '6s', '--storm-every', '16s', '--clients', '12'], cliEnv(home, { TMPDIR: tmp }));
    expect(result.stderr).not.toMatch(/ratewarden: /);
    expect(result.exitCode).toBe(0);
    const replay = JSON.parse(result.stdout) as ReplayResult;
    const { amnesia, ratewarden } = replay.runs;

    expect(ratewarden.endedBy).toBeNull();
    expect(ratewarden.crashes).toBeGreaterThanOrEqual(3);
    expect(ratewarden.forwardedDuringCooldown).toBe(0);
    expect(ratewarden.forwardedDuringCooldownSeenByClients).toBe(0);
    expect(ratewarden.crashesDuringCooldown).toBeGreaterThanOrEqual(1);
    expect(ratewarden.cooldownsSurvivingCrash).toBe(ratewarden.crashesDuringCooldown);
    expect(ratewarden.zeroTokenSamples).toBe(0);

    expect(amnesia.crashes).toBeGreaterThanOrEqual(3);
    expect(amnesia.zeroTokenSamples).toBeGreaterThan(0);
    expect(amnesia.upstream429s).toBeGreaterThan(ratewarden.upstream429s);

    expect(readdirSync(tmp)).toEqual([]);
    expect(processesMentioning(tmp)).toEqual([]);
  });

  it('refuses a bad flag with one line and exit code 2, before starting anything', async () => {
    const home = dirs.make();
    const result = await runCli(['demo', '--duration', 'soon'], cliEnv(home));
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('--duration: "soon" is not a duration');
  });
});
