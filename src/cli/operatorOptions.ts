import type { Command } from 'commander';
import { settingNames, type SettingName } from '../config/schema.js';
import { addSettingOptions } from './settingsOptions.js';
import { addWrappedHelpText } from './helpLayout.js';

/**
 * Every setting flag of `ratewarden run`, so that an operator can reuse the proxy's command line
 * and status sees the same window, budgets and limits; help lists only those the command uses.
 */
export function addOperatorOptions(command: Command, shown: readonly SettingName[]): Command {
  addSettingOptions(command, settingNames);
  const hidden = new Set<string>(settingNames.filter((name) => !shown.includes(name)));
  for (const option of command.options) {
    if (hidden.has(option.attributeName())) option.hideHelp();
  }
  return command;
}

export function addExamples(command: Command, examples: readonly string[]): Command {
  const lines = examples.map((example) => `  $ ${example}`).join('\n');
  return addWrappedHelpText(
    command,
    `\nExamples:\n${lines}\n\n` +
      'Every setting flag of "ratewarden run" is accepted ("ratewarden config --help" lists them). ' +
      'Settings also come from the config file and RATEWARDEN_* variables: flag > env > file > default. Durations accept 300ms, 10s, 5m, 1h.\n' +
      'Exit codes: 0 ok, 1 failure, 2 usage or configuration, 3 database.',
  );
}
