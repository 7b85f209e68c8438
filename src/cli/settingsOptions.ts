import { Command, Option } from 'commander';
import { loadConfig, type ResolvedConfig } from '../config/load.js';
import { kebabName, settingsSchema, type SettingName } from '../config/schema.js';

export interface CommonOptions {
  config?: string;
}

/** Adds `--config` and one flag per named setting, described from the schema. */
export function addSettingOptions(command: Command, names: readonly SettingName[]): Command {
  command.option('--config <path>', 'config file (default: $XDG_CONFIG_HOME/ratewarden/config.json)');
  for (const name of names) {
    const field = settingsSchema[name];
    const isFlag = typeof field.default === 'boolean';
    const option = new Option(isFlag ? `--${kebabName(name)}` : `--${kebabName(name)} <value>`, field.describe);
    if (field.unsafe === true) option.hideHelp();
    command.addOption(option);
  }
  return command;
}

/** Resolves the effective configuration of a command from its parsed options. */
export function resolveSettings(options: Record<string, unknown>, names: readonly SettingName[], env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const flags: Partial<Record<SettingName, unknown>> = {};
  for (const name of names) {
    if (options[name] !== undefined) flags[name] = options[name];
  }
  const configPath = typeof options.config === 'string' ? options.config : undefined;
  return loadConfig({ flags, env, configPath });
}
