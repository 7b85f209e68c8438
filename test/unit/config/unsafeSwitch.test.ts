import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { addSettingOptions } from '../../../src/cli/settingsOptions.js';
import { ConfigError } from '../../../src/config/errors.js';
import { loadConfig } from '../../../src/config/load.js';
import { limiterPolicyFrom } from '../../../src/config/policy.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';

const scratch = new ScratchDirs();
afterEach(() => scratch.removeAll());

/** No config file of the user's can leak in. */
const hermetic = (): Record<string, string> => ({ XDG_CONFIG_HOME: scratch.make() });

describe('the unsafe switch --unsafe-record-zero-samples', () => {
  it('is off by default, so the limiter never records a zero-token sample', () => {
    const { settings } = loadConfig({ flags: {}, env: hermetic() });
    expect(settings.unsafeRecordZeroSamples).toBe(false);
    expect(limiterPolicyFrom(settings).unsafeRecordZeroTokenSamples).toBe(false);
  });

  it('is accepted as a flag for one run', () => {
    const { settings } = loadConfig({ flags: { unsafeRecordZeroSamples: true }, env: hermetic() });
    expect(limiterPolicyFrom(settings).unsafeRecordZeroTokenSamples).toBe(true);
  });

  it('is refused from the environment and from a config file, where it could stay on by accident', () => {
    expect(() => loadConfig({ flags: {}, env: { ...hermetic(), RATEWARDEN_UNSAFE_RECORD_ZERO_SAMPLES: 'true' } })).toThrow(ConfigError);
    const file = join(scratch.make(), 'config.json');
    writeFileSync(file, JSON.stringify({ 'unsafe-record-zero-samples': true }));
    expect(() => loadConfig({ flags: {}, env: hermetic(), configPath: file })).toThrow(
      /accepted only as the flag --unsafe-record-zero-samples/,
    );
  });

  it('is hidden from --help', () => {
    const command = addSettingOptions(new Command('run'), ['window', 'unsafeRecordZeroSamples']);
    const help = command.helpInformation();
    expect(help).toContain('--window');
    expect(help).not.toContain('unsafe');
  });
});

describe("the seed's unsafe switches and the 429 → crash edge", () => {
  const switches = [
    ['unsafeNoCooldown', 'unsafe-no-cooldown', true, true],
    ['unsafeSeedRaise', 'unsafe-seed-raise', true, true],
    ['unsafeIgnoreReportedRemaining', 'unsafe-ignore-reported-remaining', true, true],
    ['unsafeRetryRateLimitedAfter', 'unsafe-retry-rate-limited-after', '3s', 3_000],
    ['unsafeCrashAfterRateLimits', 'unsafe-crash-after-rate-limits', '3', 3],
    ['unsafeClockOffset', 'unsafe-clock-offset', '10m', 600_000],
  ] as const;

  it('are all off by default', () => {
    const { settings } = loadConfig({ flags: {}, env: hermetic() });
    expect(settings).toMatchObject({
      unsafeNoCooldown: false,
      unsafeSeedRaise: false,
      unsafeIgnoreReportedRemaining: false,
      unsafeRetryRateLimitedAfter: 0,
      unsafeCrashAfterRateLimits: 0,
      unsafeClockOffset: 0,
    });
    expect(limiterPolicyFrom(settings)).toMatchObject({
      unsafeNoCooldown: false,
      unsafeSeedRaise: false,
      unsafeIgnoreReportedRemaining: false,
    });
  });

  it('are accepted as flags, refused from the environment and config files, and hidden from --help', () => {
    for (const [name, kebab, value, parsed] of switches) {
      expect(loadConfig({ flags: { [name]: value }, env: hermetic() }).settings[name]).toBe(parsed);
      const env = `RATEWARDEN_${kebab.replace(/-/g, '_').toUpperCase()}`;
      expect(() => loadConfig({ flags: {}, env: { ...hermetic(), [env]: String(value) } })).toThrow(`accepted only as the flag --${kebab}`);
      const file = join(scratch.make(), 'config.json');
      writeFileSync(file, JSON.stringify({ [kebab]: value }));
      expect(() => loadConfig({ flags: {}, env: hermetic(), configPath: file })).toThrow(`accepted only as the flag --${kebab}`);
    }
    const help = addSettingOptions(
      new Command('run'),
      switches.map(([name]) => name),
    ).helpInformation();
    expect(help).not.toContain('unsafe');
  });
});
