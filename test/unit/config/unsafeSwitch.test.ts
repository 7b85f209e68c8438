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
    expect(() => loadConfig({ flags: {}, env: hermetic(), configPath: file })).toThrow(/accepted only as the flag --unsafe-record-zero-samples/);
  });

  it('is hidden from --help', () => {
    const command = addSettingOptions(new Command('run'), ['window', 'unsafeRecordZeroSamples']);
    const help = command.helpInformation();
    expect(help).toContain('--window');
    expect(help).not.toContain('unsafe');
  });
});
