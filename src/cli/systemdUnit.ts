import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parseDuration } from '../config/durations.js';
import { formatDuration } from '../kernel/durations.js';
import { ConfigError } from '../config/errors.js';
import { kebabName, settingNames, settingsSchema, type SettingName, type Settings } from '../config/schema.js';
import type { Source } from '../config/load.js';
import { addExamples } from './operatorOptions.js';
import { addSettingOptions, resolveSettings } from './settingsOptions.js';
import { hiddenBySandbox, renderSystemdSocket, renderSystemdUnit } from './systemdUnitText.js';

interface SystemdUnitOptions extends Record<string, unknown> {
  execStart?: string;
  supervised?: boolean;
  user?: string;
  socketActivation?: boolean;
  socketUnit?: boolean;
}

/** The settings the unit depends on; the restart ones shape its [Unit] and [Service] keys too. */
const unitSettings = [
  'upstream',
  'listen',
  'allowRemote',
  'stopTimeout',
  'restartSec',
  'restartMaxDelay',
  'stableAfter',
  'startLimitBurst',
  'startLimitInterval',
  'startTimeout',
  'livenessInterval',
  'livenessMisses',
] as const satisfies readonly SettingName[];

/** Only ratewarden's own supervisor reads these; with --no-supervise systemd's keys stand in for them. */
const supervisorOnly = new Set<SettingName>([
  'restartSec',
  'restartMaxDelay',
  'stableAfter',
  'startLimitBurst',
  'startLimitInterval',
  'startTimeout',
  'livenessInterval',
  'livenessMisses',
]);

const durationSettings = new Set<SettingName>([
  'stopTimeout',
  'restartSec',
  'restartMaxDelay',
  'stableAfter',
  'startLimitInterval',
  'startTimeout',
  'livenessInterval',
]);

const binPath = fileURLToPath(new URL('../../bin/ratewarden', import.meta.url));

export function registerSystemdUnit(program: Command): void {
  const command = defineSystemdUnitCommand(program);
  command.action((runArgs: string[], options: SystemdUnitOptions) => {
    const { settings, sources } = resolveSettings(options, unitSettings);
    if (settings.upstream === null) {
      throw new ConfigError(
        'systemd-unit: no upstream; pass --upstream, e.g. ratewarden systemd-unit --upstream https://api.anthropic.com',
      );
    }
    if (options.socketUnit === true) printSocketUnit(settings.listen);
    else printServiceUnit(runArgs, options, settings, sources, settings.upstream);
  });
}

/** The command line of `systemd-unit`: its own options, the unit settings' flags, and examples. */
function defineSystemdUnitCommand(program: Command): Command {
  const command = program
    .command('systemd-unit')
    .description('print a systemd unit file for "ratewarden run" whose restart policy matches ratewarden\'s own')
    .argument('[run-args...]', 'more arguments for "ratewarden run", after -- (e.g. -- --token-budget 40000)')
    .option('--exec-start <path>', 'the ratewarden executable the unit starts (default: this installation, through this node)')
    .option(
      '--supervised',
      "run ratewarden's own supervisor inside systemd (durable restart history, health probes) instead of --no-supervise",
    )
    .option('--user <name>', 'run as this existing account instead of a DynamicUser')
    .option(
      '--socket-activation',
      'the service is started by ratewarden.socket, which holds the listening socket across restarts (print that unit with --socket-unit)',
    )
    .option('--socket-unit', 'print the ratewarden.socket unit for --socket-activation instead of the service');
  addSettingOptions(command, unitSettings);
  addExamples(command, [
    'ratewarden systemd-unit --upstream https://api.anthropic.com | sudo tee /etc/systemd/system/ratewarden.service',
    'ratewarden systemd-unit --upstream https://api.openai.com --listen 127.0.0.1:8788 --supervised -- --token-budget 200000',
    'ratewarden systemd-unit --upstream https://api.anthropic.com --socket-activation | sudo tee /etc/systemd/system/ratewarden.service',
    'ratewarden systemd-unit --upstream https://api.anthropic.com --socket-unit | sudo tee /etc/systemd/system/ratewarden.socket',
  ]);
  return command;
}

/** ratewarden.socket listens where the service would have: the same --listen, which must name a port. */
function printSocketUnit({ host, port }: Settings['listen']): void {
  if (port === 0)
    throw new ConfigError(
      'systemd-unit: --socket-unit needs a fixed port, not 0; pass --listen 127.0.0.1:8787 (the same --listen as for the service)',
    );
  const ipv6 = host.includes(':');
  process.stdout.write(renderSystemdSocket({ listenStream: ipv6 ? `[${host}]:${port}` : `${host}:${port}`, ipv6 }));
}

/** The service unit; `upstream` is settings.upstream, which the caller has found present. */
function printServiceUnit(
  runArgs: readonly string[],
  options: SystemdUnitOptions,
  settings: Settings,
  sources: Record<SettingName, Source>,
  upstream: string,
): void {
  refuseUnsafeRunArgs(runArgs);
  const supervised = options.supervised === true;
  const execStart = options.execStart !== undefined ? [absolute(options.execStart)] : [process.execPath, binPath];
  const unit = renderSystemdUnit({
    execStart,
    runArgs: [...flagsFor(settings, sources, supervised), ...runArgs],
    supervised,
    user: options.user ?? null,
    upstream,
    restartSecMs: settings.restartSec,
    restartMaxDelayMs: settings.restartMaxDelay,
    startLimitBurst: settings.startLimitBurst,
    startLimitIntervalMs: settings.startLimitInterval,
    stopTimeoutMs: settings.stopTimeout,
    startTimeoutMs: settings.startTimeout,
    socketActivated: options.socketActivation === true,
  });
  // On stderr, so that `| sudo tee` still writes the unit: it may be right for a host where the path is readable.
  for (const path of execStart) {
    const hidden = hiddenBySandbox(path);
    if (hidden !== null)
      process.stderr.write(
        `warning: ${hidden}; install ratewarden (and node) outside it, e.g. npm install -g under /usr/local, or pass --exec-start\n`,
      );
  }
  process.stdout.write(unit);
}

/** The flags that switch a protection off (config/fields.ts `unsafe`): `--unsafe-no-cooldown`, … */
const unsafeFlags = settingNames.filter((name) => settingsSchema[name].unsafe === true).map((name) => `--${kebabName(name)}`);

/**
 * An unsafe switch is accepted for one run typed by hand, never from a file (config/load.ts); a
 * unit file would make it every run's, so it is refused here too.
 */
function refuseUnsafeRunArgs(runArgs: readonly string[]): void {
  const unsafe = runArgs.find((arg) => unsafeFlags.some((flag) => arg === flag || arg.startsWith(`${flag}=`)));
  if (unsafe === undefined) return;
  const flag = unsafe.split('=')[0] as string;
  throw new ConfigError(
    `systemd-unit: ${flag} switches a protection off, so it is accepted only for one run typed by hand, never written into a unit; remove it from the arguments after --`,
  );
}

/** The upstream always; any other unit setting that is not its default, as the flag a user would type. */
function flagsFor(settings: Settings, sources: Record<SettingName, Source>, supervised: boolean): string[] {
  const flags: string[] = [];
  for (const name of unitSettings) {
    if (name !== 'upstream' && sources[name] === 'default') continue;
    if (!supervised && supervisorOnly.has(name)) continue;
    const value = settings[name];
    if (typeof value === 'boolean') {
      if (value) flags.push(`--${kebabName(name)}`);
      continue;
    }
    flags.push(`--${kebabName(name)}`, textOf(name, value));
  }
  return flags;
}

function textOf(name: SettingName, value: Settings[(typeof unitSettings)[number]]): string {
  if (typeof value === 'object' && value !== null)
    return value.host.includes(':') ? `[${value.host}]:${value.port}` : `${value.host}:${value.port}`;
  if (typeof value === 'number' && durationSettings.has(name)) {
    const readable = formatDuration(value);
    return parseDuration(readable) === value ? readable : `${value}ms`;
  }
  return String(value);
}

function absolute(path: string): string {
  if (!path.startsWith('/'))
    throw new ConfigError(`--exec-start: "${path}" is not an absolute path; systemd needs one, e.g. /usr/local/bin/ratewarden`);
  return path;
}
