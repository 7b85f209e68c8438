import { parseArgs } from 'node:util';
import { startSimUpstream, type SimUpstreamOptions } from './upstream.js';

/*
 * Runs one simulated upstream as its own process for the demo and the benchmarks. Every option
 * may also come from the environment (`--token-limit` ↔ SIM_UPSTREAM_TOKEN_LIMIT) so that a
 * parent process can configure it without building an argument list.
 * Prints `{"url": …}` as one JSON line once it listens, and stops cleanly on SIGINT/SIGTERM.
 */

const OPTIONS = {
  port: { type: 'string' },
  shape: { type: 'string' },
  'token-limit': { type: 'string' },
  'request-limit': { type: 'string' },
  'window-ms': { type: 'string' },
  'output-tokens': { type: 'string' },
  'stream-chunks': { type: 'string' },
  'stream-delay-ms': { type: 'string' },
  compress: { type: 'string' },
} as const;
type OptionName = keyof typeof OPTIONS;

function environmentName(option: string): string {
  return `SIM_UPSTREAM_${option.toUpperCase().replace(/-/g, '_')}`;
}

function fail(message: string): never {
  process.stderr.write(`sim upstream: ${message}\n`);
  process.exit(2);
}

function parseCommandLine() {
  try {
    return parseArgs({ options: OPTIONS, strict: true }).values;
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
}

const values = parseCommandLine();

function raw(option: OptionName): string | undefined {
  return values[option] ?? process.env[environmentName(option)];
}

function numeric(option: OptionName): number | undefined {
  const text = raw(option);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) fail(`--${option} must be a whole number, got "${text}"`);
  return Number(text);
}

function compression(): SimUpstreamOptions['compress'] {
  const text = raw('compress');
  if (text === undefined || text === 'gzip' || text === 'br') return text;
  return fail(`--compress must be gzip or br, got "${text}"`);
}

function shape(): SimUpstreamOptions['shape'] {
  const text = raw('shape') ?? 'token-bucket';
  if (text === 'token-bucket' || text === 'sliding-window') return text;
  return fail(`--shape must be token-bucket or sliding-window, got "${text}"`);
}

const upstream = await startSimUpstream({
  port: numeric('port'),
  shape: shape(),
  tokenLimit: numeric('token-limit'),
  requestLimit: numeric('request-limit'),
  windowMs: numeric('window-ms'),
  outputTokens: numeric('output-tokens'),
  streamChunks: numeric('stream-chunks'),
  streamDelayMs: numeric('stream-delay-ms'),
  compress: compression(),
});
process.stdout.write(`${JSON.stringify({ url: upstream.url })}\n`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void upstream.close().then(() => process.exit(0));
  });
}
