import kleur from 'kleur';
import type { Command } from 'commander';
import type { Field } from '../config/fields.js';
import type { ResolvedConfig, Source } from '../config/load.js';
import { defaultConfigPath } from '../config/paths.js';
import { envName, kebabName, settingNames, settingsSchema, type SettingName } from '../config/schema.js';
import { storeLocationOf } from '../store/openStore.js';
import { chooseColour } from './colour.js';
import { addExamples } from './operatorOptions.js';
import { addSettingOptions, resolveSettings } from './settingsOptions.js';

interface ConfigOptions extends Record<string, unknown> {
  json?: boolean;
}

interface EffectiveSetting {
  value: unknown;
  /** As a user would write it in the config file or a flag. */
  text: string;
  source: Source;
  env: string;
  flag: string;
}

export function registerConfig(program: Command): void {
  const command = program
    .command('config')
    .description('print the effective configuration and where each value came from (flag > env > file > default)')
    .option('--json', 'print one JSON object instead of the table');
  addSettingOptions(command, settingNames);
  addExamples(command, [
    'ratewarden config',
    'ratewarden config --config ./ratewarden.json --json',
    'RATEWARDEN_WINDOW=2m ratewarden config --window 90s',
  ]);
  // Unsafe switches are flags only: a config file or the environment cannot set them.
  const keys = settingNames.filter((name) => settingsSchema[name].unsafe !== true);
  const keyWidth = Math.max(...keys.map((name) => kebabName(name).length)) + 2;
  command.addHelpText(
    'after',
    `\nConfig file keys (JSON) and environment variables:\n${keys.map((name) => `  ${kebabName(name).padEnd(keyWidth)}${envName(name)}`).join('\n')}`,
  );
  command.action((options: ConfigOptions) => {
    const resolved = resolveSettings(options, settingNames);
    chooseColour();
    const effective = effectiveSettings(resolved);
    const defaultFile = defaultConfigPath(process.env);
    const output =
      options.json === true
        ? JSON.stringify(
            {
              configFile: resolved.configFile,
              defaultConfigFile: defaultFile,
              precedence: ['flag', 'env', 'file', 'default'],
              settings: effective,
            },
            null,
            2,
          )
        : render(resolved.configFile, defaultFile, effective);
    process.stdout.write(`${output}\n`);
  });
}

function textOf(field: Field<unknown>, value: unknown): string {
  if (value === null) return 'none';
  if (field.format !== undefined) return field.format(value);
  return String(value);
}

function effectiveSettings(resolved: ResolvedConfig): Record<string, EffectiveSetting> {
  // The unsafe switches are hidden, as in --help, unless this very command line sets one.
  const shown = settingNames.filter((name) => settingsSchema[name].unsafe !== true || resolved.sources[name] !== 'default');
  const entries = shown.map((name: SettingName): [string, EffectiveSetting] => {
    const field: Field<unknown> = settingsSchema[name];
    // `--db` may be a PostgreSQL URL with a password: shown as the store's location, never as given.
    const given = resolved.settings[name];
    const value = name === 'db' && typeof given === 'string' ? storeLocationOf(given) : given;
    return [
      kebabName(name),
      { value, text: textOf(field, value), source: resolved.sources[name], env: envName(name), flag: `--${kebabName(name)}` },
    ];
  });
  return Object.fromEntries(entries);
}

const sourcePaint: Record<Source, (text: string) => string> = {
  default: kleur.dim,
  file: kleur.cyan,
  env: kleur.yellow,
  flag: kleur.green,
};

/** Key, where it came from, value: the value last, so that a long one (a path, a URL) never runs into another column. */
function render(configFile: string | null, defaultFile: string, settings: Record<string, EffectiveSetting>): string {
  const file = configFile === null ? `none (${defaultFile} does not exist)` : configFile;
  const whereOf = (setting: EffectiveSetting): string =>
    setting.source === 'env' ? `env ${setting.env}` : setting.source === 'flag' ? `flag ${setting.flag}` : setting.source;
  const keyWidth = Math.max(...Object.keys(settings).map((key) => key.length)) + 2;
  const whereWidth = Math.max(...Object.values(settings).map((setting) => whereOf(setting).length)) + 2;
  const rows = Object.entries(settings).map(([key, setting]) => {
    const where = whereOf(setting);
    return `${key.padEnd(keyWidth)}${sourcePaint[setting.source](where)}${' '.repeat(whereWidth - where.length)}${setting.text === '' ? 'none' : setting.text}`;
  });
  return [`config file: ${file}`, 'precedence: flag > env > file > default', '', ...rows].join('\n');
}
