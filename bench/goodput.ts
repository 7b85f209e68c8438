/*
 * The calm-case goodput check of issue 11: a fleet on the official Anthropic SDK (default
 * retries) against the simulated upstream, once straight to it and once through ratewarden
 * with its defaults (the window and the limit period set to the simulator's scaled minute).
 * A sanity measurement, not the incident replay: no crashes, no storms, one tenant.
 *
 *   npm run bench:goodput                                 # 16 clients, 30 s, 30 000 tokens per 6 s
 *   npm run bench:goodput -- --clients 16 --duration 30s --margin 0.97
 *
 * GOODPUT_ONLY=ratewarden skips the direct run (for margin sweeps); GOODPUT_DEBUG=1 prints the
 * proxy's final state, budget adjustments and upstream 429s to stderr.
 */
import Anthropic from '@anthropic-ai/sdk';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { parseDuration } from '../src/config/durations.js';
import { startProxy } from '../src/cli/composeWorker.js';
import { startSimUpstream, type LimitShape } from '../src/sim/upstream.js';
import { SeededRandom } from '../src/sim/seededRandom.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '16' },
    duration: { type: 'string', default: '30s' },
    'token-limit': { type: 'string', default: '30000' },
    window: { type: 'string', default: '6s' },
    margin: { type: 'string', default: '' },
    seed: { type: 'string', default: '1' },
    // Anthropic's limits are a token bucket; a sliding window is the stricter shape some other upstreams have.
    shape: { type: 'string', default: 'token-bucket' },
    // ratewarden's --limit-shape (auto: a bucket for Anthropic's headers).
    'limit-shape': { type: 'string', default: 'auto' },
    // ratewarden's --scope-by: every client has its own API key here, all drawing on one limit.
    'scope-by': { type: 'string', default: 'group' },
    // The organization the simulated upstream names on every answer, as Anthropic does; '' names none.
    organization: { type: 'string', default: 'org-bench' },
  },
});
const clients = Number(values.clients);
const durationMs = parseDuration(values.duration) ?? 30_000;
const windowMs = parseDuration(values.window) ?? 6_000;
const tokenLimit = Number(values['token-limit']);
if (values.shape !== 'token-bucket' && values.shape !== 'sliding-window') {
  process.stderr.write('bench:goodput: --shape takes token-bucket or sliding-window\n');
  process.exit(2);
}
const shape: LimitShape = values.shape;
// What the upstream could serve over the run: a bucket starts full and refills; a window serves its limit per window.
const capacity = ((shape === 'token-bucket' ? windowMs + durationMs : durationMs) * tokenLimit) / windowMs;

interface RunFigures {
  upstream429s: number;
  tokensServed: number;
  goodput: number;
  clientRateLimitErrors: number;
  otherErrors: number;
  calls: number;
}

async function runFleet(
  baseURL: string,
  random: SeededRandom,
): Promise<{ tokens: number; rateLimitErrors: number; otherErrors: number; calls: number }> {
  const deadline = Date.now() + durationMs;
  let tokens = 0;
  let rateLimitErrors = 0;
  let otherErrors = 0;
  let calls = 0;
  async function client(index: number): Promise<void> {
    const sdk = new Anthropic({ apiKey: `sk-ant-bench-${index}`, baseURL });
    while (Date.now() < deadline) {
      const prompt = 'x'.repeat(600 + Math.floor(random.next() * 1_800));
      calls += 1;
      try {
        const message = await sdk.messages.create({
          model: 'claude-sim',
          max_tokens: 260 + Math.floor(random.next() * 140),
          messages: [{ role: 'user', content: prompt }],
        });
        // Only what arrived before the end of the run counts against its capacity.
        if (Date.now() <= deadline) tokens += message.usage.input_tokens + message.usage.output_tokens;
      } catch (error) {
        if (error instanceof Anthropic.RateLimitError) rateLimitErrors += 1;
        else otherErrors += 1;
      }
    }
  }
  await Promise.all(Array.from({ length: clients }, (_, index) => client(index)));
  return { tokens, rateLimitErrors, otherErrors, calls };
}

async function measure(setup: 'direct' | 'ratewarden'): Promise<RunFigures> {
  const organizationId = values.organization === '' ? undefined : values.organization;
  const sim = await startSimUpstream({ tokenLimit, windowMs, outputTokens: 300, streamChunks: 5, shape, organizationId });
  const dir = mkdtempSync(join(tmpdir(), 'ratewarden-goodput-'));
  // Every duration of the limiter shrinks with the minute (a 6 s window stands for 60 s, as in bench:replay).
  const scale = 60_000 / windowMs;
  const scaled = (ms: number): string => `${Math.max(1, Math.round(ms / scale))}ms`;
  const flags: Record<string, string> = {
    upstream: sim.url,
    provider: 'anthropic',
    listen: '127.0.0.1:0',
    db: join(dir, 'ratewarden.db'),
    window: values.window,
    limitPeriod: values.window,
    backoffBase: scaled(30_000),
    backoffMax: scaled(300_000),
    probeTimeout: scaled(60_000),
    minHistory: scaled(3_600_000),
    quietPeriod: scaled(900_000),
    maxWait: scaled(60_000),
  };
  if (values.margin !== '') flags.safetyMargin = values.margin;
  flags.limitShape = values['limit-shape'];
  flags.scopeBy = values['scope-by'];
  const proxy =
    setup === 'ratewarden'
      ? await startProxy(loadConfig({ flags, env: { XDG_CONFIG_HOME: '/nonexistent/ratewarden-bench' } }).settings)
      : null;
  try {
    const fleet = await runFleet(proxy?.url ?? sim.url, new SeededRandom(Number(values.seed)));
    return {
      upstream429s: sim.stats().rateLimited,
      tokensServed: fleet.tokens,
      goodput: fleet.tokens / capacity,
      clientRateLimitErrors: fleet.rateLimitErrors,
      otherErrors: fleet.otherErrors,
      calls: fleet.calls,
    };
  } finally {
    await proxy?.close(0);
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const direct = process.env.GOODPUT_ONLY === 'ratewarden' ? null : await measure('direct');
const ratewarden = await measure('ratewarden');
const organizationLine =
  values.organization === ''
    ? ', the upstream naming no organization'
    : `, the upstream naming their organization (${values.organization}) on every answer`;
const pct = (share: number): string => `${(share * 100).toFixed(1)} %`;
const row = (name: string, f: RunFigures): string =>
  `| ${name} | ${f.upstream429s} | ${pct(f.goodput)} | ${f.clientRateLimitErrors} | ${f.otherErrors} | ${f.calls} |`;
process.stdout.write(
  [
    `${clients} clients on @anthropic-ai/sdk (default retries), ${values.duration}, simulated ${shape} upstream of ${tokenLimit} tokens per ${values.window}; ratewarden defaults with --window ${values.window} --limit-period ${values.window} and every other duration scaled by the same factor${values.margin ? ` --safety-margin ${values.margin}` : ''}, --limit-shape ${values['limit-shape']} --scope-by ${values['scope-by']}; each client has its own API key, all keys drawing on the upstream's one limit (as the keys of one organization do)${organizationLine}.`,
    '',
    '| | upstream 429s | goodput (tokens served / capacity) | client-visible rate-limit errors | other errors | calls |',
    '|---|---|---|---|---|---|',
    ...(direct === null ? [] : [row('no proxy', direct)]),
    row('ratewarden', ratewarden),
    '',
  ].join('\n'),
);
