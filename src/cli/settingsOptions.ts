import { Command, Option } from 'commander';
import type { Field } from '../config/fields.js';
import { loadConfig, type ResolvedConfig } from '../config/load.js';
import { kebabName, settingsSchema, type SettingName } from '../config/schema.js';

export interface CommonOptions {
  config?: string;
}

export const helpGroups = {
  required: 'Required options:',
  general: 'General options:',
  proxy: 'Proxy options:',
  limits: 'Limits options:',
  controller: 'Controller options:',
  supervisor: 'Supervisor options:',
} as const;

type HelpGroup = keyof typeof helpGroups;

/** Where each setting is listed in --help; a setting not named here is listed under general. */
const GROUP_OF: Partial<Record<SettingName, HelpGroup>> = {
  upstream: 'required',
  listen: 'proxy',
  allowRemote: 'proxy',
  page: 'proxy',
  provider: 'proxy',
  maxBody: 'proxy',
  maxWait: 'proxy',
  stopTimeout: 'proxy',
  upstreamTimeout: 'proxy',
  defaultMaxTokens: 'proxy',
  window: 'limits',
  tokenBudget: 'limits',
  requestBudget: 'limits',
  tokenMetric: 'limits',
  limitShape: 'limits',
  dailyTokenBudget: 'limits',
  dailyRequestBudget: 'limits',
  scopeBy: 'limits',
  scopeFamilies: 'limits',
  scopeBudgets: 'limits',
  keyAliases: 'limits',
  safetyMargin: 'limits',
  backoffBase: 'limits',
  backoffMax: 'limits',
  backoffJitter: 'limits',
  probeTimeout: 'limits',
  quotaProbeInterval: 'limits',
  tokenBudgetMax: 'controller',
  requestBudgetMax: 'controller',
  minHistory: 'controller',
  minConsumption: 'controller',
  quietPeriod: 'controller',
  raiseStep: 'controller',
  cutFactor: 'controller',
  restartSec: 'supervisor',
  restartHold: 'supervisor',
  restartHoldConnections: 'supervisor',
  restartMaxDelay: 'supervisor',
  stableAfter: 'supervisor',
  startLimitBurst: 'supervisor',
  startLimitInterval: 'supervisor',
  startTimeout: 'supervisor',
  livenessInterval: 'supervisor',
  livenessMisses: 'supervisor',
};

/** Lists in the order settings are added to a command: the groups follow in that order. */
const GROUP_ORDER: readonly HelpGroup[] = ['required', 'general', 'proxy', 'limits', 'controller', 'supervisor'];

function groupOf(name: SettingName): HelpGroup {
  return GROUP_OF[name] ?? 'general';
}

function defaultText(field: Field<unknown>): string {
  if (field.defaultHelp !== undefined) return field.defaultHelp;
  if (field.default === null) return 'none';
  if (typeof field.default === 'boolean') return field.default ? 'on' : 'off';
  return field.format !== undefined ? field.format(field.default) : String(field.default);
}

/** `describe (default: 60s; more than 0, e.g. 300ms, 10s, 5m, 1h)`: every help line answers both. */
export function helpLine(field: Field<unknown>): string {
  const facts = [`default: ${defaultText(field)}`, ...(field.allowed === undefined ? [] : [field.allowed])];
  return `${field.describe} (${facts.join('; ')})`;
}

/** Adds `--config` and one flag per named setting, described from the schema and grouped for --help. */
export function addSettingOptions(command: Command, names: readonly SettingName[]): Command {
  const addSetting = (name: SettingName): void => {
    const field: Field<unknown> = settingsSchema[name];
    const isFlag = typeof field.default === 'boolean';
    const option = new Option(isFlag ? `--${kebabName(name)}` : `--${kebabName(name)} ${field.placeholder}`, helpLine(field)).helpGroup(
      helpGroups[groupOf(name)],
    );
    if (field.unsafe === true) option.hideHelp();
    // `--upstream anthropic=… --upstream openai=…` means the same as one flag with both, comma-separated.
    if (name === 'upstream')
      option.argParser((value: string, previous: unknown) => (typeof previous === 'string' ? `${previous},${value}` : value));
    command.addOption(option);
  };
  // Commander lists the groups in the order their first option was added: the required ones first.
  const [required, ...rest] = GROUP_ORDER.map((group) => names.filter((name) => groupOf(name) === group));
  required?.forEach(addSetting);
  command.addOption(
    new Option('--config <path>', 'config file (default: $XDG_CONFIG_HOME/ratewarden/config.json)').helpGroup(helpGroups.general),
  );
  command.addHelpOption(new Option('-h, --help', 'display help for command').helpGroup(helpGroups.general));
  rest.flat().forEach(addSetting);
  return command;
}

/** Resolves the effective configuration of a command from its parsed options. */
export function resolveSettings(
  options: Record<string, unknown>,
  names: readonly SettingName[],
  env: NodeJS.ProcessEnv = process.env,
): ResolvedConfig {
  const flags: Partial<Record<SettingName, unknown>> = {};
  for (const name of names) {
    if (options[name] !== undefined) flags[name] = options[name];
  }
  const configPath = typeof options.config === 'string' ? options.config : undefined;
  return loadConfig({ flags, env, configPath });
}
