import type { Command } from 'commander';
import { parseDuration } from '../config/durations.js';
import { ConfigError } from '../config/errors.js';
import { maxDurationMs, maxDurationText } from '../config/fields.js';
import { defaultReplayOptions, scaled, type ReplayOptions } from '../sim/incidentScenario.js';
import type { LimitShape } from '../sim/upstream.js';
import { runReplay } from '../sim/replay.js';
import { chooseColour } from './colour.js';
import { ProgressDisplay, renderReplay } from './demoRender.js';
import { exitCodes } from '../kernel/exitCodes.js';

interface DemoOptions {
  duration: string;
  seed: string;
  crashEvery: string;
  stormEvery: string;
  crashAfter429s: string;
  otherTenant: string;
  shape: string;
  clients: string;
  json?: boolean;
}

const maxClients = 200;

function durationOption(flag: string, text: string, { allowZero }: { allowZero: boolean }): number {
  const ms = text.trim() === '0' ? 0 : parseDuration(text);
  if (ms === null || ms < 0 || (!allowZero && ms < 1_000)) {
    throw new ConfigError(
      `${flag}: "${text}" is not a duration${allowZero ? '' : ' of at least 1s'}; use e.g. ${allowZero ? '12s, or 0 for none' : '45s'}`,
    );
  }
  if (ms > maxDurationMs) throw new ConfigError(`${flag}: "${text}" is longer than the maximum of ${maxDurationText}; use at most 596h`);
  return ms;
}

function wholeNumber(flag: string, text: string, min: number, max: number): number {
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${flag}: "${text}" is not a whole number from ${min} to ${max}; use e.g. ${Math.max(min, Math.min(max, 24))}`);
  }
  return value;
}

function share(flag: string, text: string): number {
  const value = /^\s*(0|1|0?\.\d+)\s*$/.test(text) ? Number(text) : NaN;
  if (!(value >= 0 && value < 1))
    throw new ConfigError(`${flag}: "${text}" is not a share from 0 to below 1; use e.g. 0.5 for half the key's capacity, or 0 for none`);
  return value;
}

function limitShape(text: string): LimitShape {
  if (text === 'token-bucket' || text === 'sliding-window') return text;
  throw new ConfigError(`--shape: "${text}" is not a limit shape; use token-bucket (Anthropic) or sliding-window (OpenAI-like)`);
}

export function replayOptionsFrom(options: DemoOptions): ReplayOptions {
  return {
    durationMs: durationOption('--duration', options.duration, { allowZero: false }),
    seed: wholeNumber('--seed', options.seed, 0, 2 ** 32 - 1),
    crashEveryMs: durationOption('--crash-every', options.crashEvery, { allowZero: true }),
    crashAfter429s: wholeNumber('--crash-after-429s', options.crashAfter429s, 0, 1_000),
    stormEveryMs: durationOption('--storm-every', options.stormEvery, { allowZero: true }),
    otherTenantShare: share('--other-tenant', options.otherTenant),
    limitShape: limitShape(options.shape),
    clients: wholeNumber('--clients', options.clients, 1, maxClients),
  };
}

const seconds = (ms: number): string => `${ms / 1000}s`;

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'replay the incident on a simulated upstream three ways, side by side: no proxy, the amnesia loop, ratewarden (no network, nothing to configure)',
    )
    .option(
      '--duration <duration>',
      'how long each run lasts, in compressed time (1 s stands for 10 s)',
      seconds(defaultReplayOptions.durationMs),
    )
    .option('--seed <n>', 'seed for the load, the crash schedule and the storms', String(defaultReplayOptions.seed))
    .option(
      '--crash-every <duration>',
      'mean gap between injected worker crashes (SIGKILL); 0 for none',
      seconds(defaultReplayOptions.crashEveryMs),
    )
    .option(
      '--crash-after-429s <n>',
      'a worker dies when it has seen this many upstream 429s within one window; 0 for never',
      String(defaultReplayOptions.crashAfter429s),
    )
    .option(
      '--storm-every <duration>',
      'mean gap between storms (a second tenant on the key drains the limit); 0 for none',
      seconds(defaultReplayOptions.stormEveryMs),
    )
    .option(
      '--other-tenant <share>',
      "share of the key's capacity a second tenant draws between storms, bypassing the proxy",
      String(defaultReplayOptions.otherTenantShare),
    )
    .option(
      '--shape <shape>',
      "the upstream's limit: token-bucket (Anthropic) or sliding-window (OpenAI-like)",
      defaultReplayOptions.limitShape,
    )
    .option('--clients <n>', 'concurrent simulated clients, each retrying like the official SDKs', String(defaultReplayOptions.clients))
    .option('--json', 'print the figures as one JSON object instead of the table')
    .addHelpText('after', demoHelpText())
    .action(runDemo);
}

/** What the three runs are, after the options in --help. */
function demoHelpText(): string {
  return (
    `\nThe three runs use the same load, crash schedule, second tenant and seed, at the same time, on 127.0.0.1 only:\n` +
    '  direct      the clients talk to the upstream themselves: no proxy (nothing to crash)\n' +
    `  amnesia     the seed's setup: state lost at every restart, restarted after ${seconds(scaled(3_000))} always, cooldowns not\n` +
    `              enforced, 429s resent after a fixed ${seconds(scaled(30_000))}, ungated raises, zero-token samples recorded\n` +
    '  ratewarden  the defaults: a durable database, its supervisor, the backoff ladder, gated raises\n' +
    'Both proxies crash at the scheduled moments and when they see too many 429s (--crash-after-429s).\n' +
    'Progress goes to stderr; the table (or --json) to stdout. Every process and temporary file is\n' +
    'removed at the end, also after Ctrl-C. Exit codes: 0 ok, 1 failure or interrupted, 2 usage.'
  );
}

/** Runs the replay with its progress on stderr; Ctrl-C stops it and still cleans up (a second Ctrl-C quits at once). */
async function runDemo(raw: DemoOptions): Promise<void> {
  const options = replayOptionsFrom(raw);
  chooseColour();
  const interrupted = new AbortController();
  const onSignal = (): void => {
    if (interrupted.signal.aborted) process.exit(exitCodes.failure);
    process.stderr.write('\nstopping the demo and cleaning up (Ctrl-C again to quit at once)…\n');
    interrupted.abort(new Error('demo interrupted; everything it started was stopped and removed'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const progress = new ProgressDisplay(process.stderr);
  try {
    const result = await runReplay(options, (update) => progress.update(update), interrupted.signal);
    progress.finish();
    process.stdout.write(`${raw.json === true ? JSON.stringify(result, null, 2) : renderReplay(result)}\n`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
