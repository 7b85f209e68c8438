import { Option, type Command } from 'commander';
import { settingNames, type Settings } from '../config/schema.js';
import { tolerateClosedOutput } from '../kernel/closedOutput.js';
import { socketFromSupervisorFlag } from '../kernel/workerProtocol.js';
import { runWorker } from './worker.js';
import { proxyPage } from './page.js';
import { addSettingOptions, helpGroups, resolveSettings } from './settingsOptions.js';
import { addWrappedHelpText } from './helpLayout.js';

interface RunOptions extends Record<string, unknown> {
  /** commander's reading of `--no-supervise`: false when it was given. */
  supervise: boolean;
  socketFromSupervisor?: boolean;
}

/**
 * `ratewarden run` under its supervisor, which starts `ratewarden run --no-supervise` with the
 * same arguments (everything after `run`) as its worker.
 */
async function runSupervised(settings: Settings): Promise<number> {
  // Loaded only here: every restarted worker would otherwise pay for loading the supervisor.
  const { superviseWorker } = await import('../supervisor/supervise.js');
  return superviseWorker({ settings, userArgs: process.argv.slice(3) });
}

export function registerRun(program: Command): void {
  const command = program
    .command('run')
    .description('run the proxy: point your clients at it instead of the upstream (e.g. ANTHROPIC_BASE_URL=http://127.0.0.1:8787)')
    // Internal: how the supervisor starts its worker, which then serves the supervisor's socket.
    .addOption(new Option(socketFromSupervisorFlag, "serve the listening socket handed over by ratewarden's supervisor").hideHelp());
  // Every setting: the supervisor hands its worker the same command line, and status reads the same values.
  addSettingOptions(command, settingNames);
  command.addOption(
    new Option('--no-page', 'do not serve the live read-only page at /_ratewarden/ (docs/page.md)').helpGroup(helpGroups.proxy),
  );
  command.addOption(
    new Option(
      '--no-supervise',
      'run the proxy worker alone in this process, for a host whose own service manager restarts it (default: supervised)',
    ).helpGroup(helpGroups.supervisor),
  );
  addWrappedHelpText(
    command,
    '\nExamples:\n  $ ratewarden run --upstream https://api.anthropic.com\n' +
      '  $ ratewarden run --upstream anthropic=https://api.anthropic.com,openai=https://api.openai.com\n' +
      '  $ ratewarden run --no-supervise --upstream https://api.openai.com --listen 127.0.0.1:8788 --token-budget 200000\n' +
      '\nThen: ANTHROPIC_BASE_URL=http://127.0.0.1:8787 for Anthropic clients, OPENAI_BASE_URL=http://127.0.0.1:8787/v1 for OpenAI ones.\n' +
      'Durations accept 300ms, 10s, 5m, 1h. Settings also come from the config file and RATEWARDEN_* variables (flag > env > file > default).',
  );
  command.action(async (options: RunOptions) => {
    // Before anything is printed: a reader that goes away (`| tee` ended by the same Ctrl-C) must not end the proxy.
    tolerateClosedOutput(process.stdout, process.stderr);
    const { settings } = resolveSettings(options, settingNames);
    const exitCode = options.supervise
      ? await runSupervised(settings)
      : await runWorker(settings, {
          socketFromSupervisor: options.socketFromSupervisor === true,
          page: settings.page ? proxyPage(settings) : undefined,
        });
    process.exit(exitCode);
  });
}
