/*
 * Limit groups (issue 21), two measurements against the simulated upstream:
 *
 * fairness — one session floods 200 requests at once while four sessions each send one request
 *   at a time, all on one key (one group); each light session's p95 wait is compared with its
 *   p95 wait when the four run alone, and with the time one flood request holds the budget.
 *   Target: p95 with the flood ≤ 2 × p95 alone + one flood request.
 * organizations — two organizations behind one proxy (a router sends each key to its
 *   organization's own simulated upstream, which names that organization on every answer), 8
 *   keys each on @anthropic-ai/sdk with default retries, each organization with its own limit.
 *   Run twice: calm, and with organization A answering only 429 for a stretch in the middle.
 *   Target: each organization ≥ 97 % of its own capacity, B's figures unchanged by A's 429s.
 *
 *   npm run bench:groups                      # both
 *   npm run bench:groups -- --only fairness   # or organizations
 */
import Anthropic from '@anthropic-ai/sdk';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { startProxy } from '../src/cli/composeWorker.js';
import type { RunningProxy } from '../src/proxy/server.js';
import { startSimUpstream, type SimUpstream } from '../src/sim/upstream.js';

const { values } = parseArgs({ options: { only: { type: 'string', default: '' }, duration: { type: 'string', default: '30' } } });
const windowMs = 6_000;
const scaled = (ms: number): string => `${Math.max(1, Math.round(ms / 10))}ms`;

async function proxyFor(upstream: string, dir: string, extra: Record<string, string> = {}): Promise<RunningProxy> {
  const flags: Record<string, string> = {
    upstream,
    provider: 'anthropic',
    listen: '127.0.0.1:0',
    db: join(dir, 'ratewarden.db'),
    window: `${windowMs}ms`,
    limitPeriod: `${windowMs}ms`,
    backoffBase: scaled(30_000),
    backoffMax: scaled(300_000),
    probeTimeout: scaled(60_000),
    minHistory: scaled(3_600_000),
    quietPeriod: scaled(900_000),
    maxWait: scaled(60_000),
    ...extra,
  };
  return startProxy(loadConfig({ flags, env: { XDG_CONFIG_HOME: '/nonexistent/ratewarden-bench' } }).settings);
}

const p95 = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)] ?? 0;
};

async function send(url: string, session: string): Promise<{ ms: number; status: number }> {
  const started = performance.now();
  const response = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': 'sk-ant-fairness',
      'anthropic-version': '2023-06-01',
      'x-claude-code-session-id': session,
    },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'x'.repeat(600) }] }),
  });
  await response.arrayBuffer();
  return { ms: performance.now() - started, status: response.status };
}

async function fairnessRun(flood: boolean): Promise<{ lightP95: number[]; floodHoldMs: number; errors: number }> {
  const sim = await startSimUpstream({ tokenLimit: 10_000, windowMs, shape: 'token-bucket', outputTokens: 50, organizationId: 'org-fair' });
  const dir = mkdtempSync(join(tmpdir(), 'ratewarden-fair-'));
  // The flood must wait its turn, not time out: --max-wait long enough for 200 requests.
  const proxy = await proxyFor(sim.url, dir, { maxWait: '120s', maxQueue: '1000' });
  try {
    let errors = 0;
    let floodDone = !flood;
    const floodTimes: number[] = [];
    const floodStart = performance.now();
    const floodRun = flood
      ? Promise.all(
          Array.from({ length: 200 }, () =>
            send(proxy.url, 'flood').then((result) => {
              if (result.status !== 200) errors += 1;
              floodTimes.push(performance.now() - floodStart);
            }),
          ),
        ).then(() => {
          floodDone = true;
        })
      : Promise.resolve();
    const light = await Promise.all(
      Array.from({ length: 4 }, async (_, index) => {
        const waits: number[] = [];
        // Alone: as many turns as during a flood, about 20 each.
        for (let turn = 0; flood ? !floodDone : turn < 20; turn++) {
          const result = await send(proxy.url, `light-${index}`);
          if (result.status !== 200) errors += 1;
          waits.push(result.ms);
        }
        return p95(waits);
      }),
    );
    await floodRun;
    const floodHoldMs = floodTimes.length > 1 ? (Math.max(...floodTimes) - Math.min(...floodTimes)) / (floodTimes.length - 1) : 0;
    return { lightP95: light, floodHoldMs, errors };
  } finally {
    await proxy.close(0);
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function fairness(): Promise<string[]> {
  const alone = await fairnessRun(false);
  const flooded = await fairnessRun(true);
  const rows = alone.lightP95.map((aloneMs, index) => {
    const withFlood = flooded.lightP95[index] ?? 0;
    const bound = 2 * aloneMs + flooded.floodHoldMs;
    return `| light-${index} | ${aloneMs.toFixed(0)} ms | ${withFlood.toFixed(0)} ms | ${bound.toFixed(0)} ms | ${withFlood <= bound ? 'met' : 'NOT met'} |`;
  });
  return [
    `fairness: one session floods 200 requests at once, four sessions send one at a time, one key (one group), simulated token bucket of 10 000 tokens per 6 s; one flood request holds the budget ${flooded.floodHoldMs.toFixed(0)} ms on average; errors: ${alone.errors + flooded.errors}`,
    '',
    '| session | p95 alone | p95 with the flood | bound (2 × alone + one flood request) | target |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ];
}

/** Sends each request to its key's organization: keys `a-…` to A, the rest to B. */
async function router(a: SimUpstream, b: SimUpstream): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((incoming, outgoing) => {
    const key = String(incoming.headers['x-api-key'] ?? incoming.headers.authorization ?? '').replace(/^Bearer /, '');
    const target = new URL(key.startsWith('a-') ? a.url : b.url);
    const upstream = httpRequest(
      { hostname: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on('error', () => outgoing.destroy());
    incoming.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function organizationsRun(
  disturbA: boolean,
  durationMs: number,
  viaProxy = true,
): Promise<{ goodput: Record<'a' | 'b', number>; upstream429s: Record<'a' | 'b', number>; clientErrors: Record<'a' | 'b', number> }> {
  const limits = { a: 30_000, b: 15_000 };
  const simA = await startSimUpstream({
    tokenLimit: limits.a,
    windowMs,
    shape: 'token-bucket',
    outputTokens: 300,
    organizationId: 'org-a',
  });
  const simB = await startSimUpstream({
    tokenLimit: limits.b,
    windowMs,
    shape: 'token-bucket',
    outputTokens: 300,
    organizationId: 'org-b',
  });
  const front = await router(simA, simB);
  const dir = mkdtempSync(join(tmpdir(), 'ratewarden-orgs-'));
  const proxy = viaProxy ? await proxyFor(front.url, dir) : null;
  const tokens = { a: 0, b: 0 };
  const clientErrors = { a: 0, b: 0 };
  const deadline = Date.now() + durationMs;
  let disturbed: NodeJS.Timeout | null = null;
  if (disturbA) {
    disturbed = setTimeout(() => {
      simA.setMode('always-429');
      disturbed = setTimeout(() => simA.setMode('normal'), 3_000);
    }, durationMs / 2);
  }
  try {
    await Promise.all(
      (['a', 'b'] as const).flatMap((org) =>
        Array.from({ length: 8 }, async (_, index) => {
          const sdk = new Anthropic({ apiKey: `${org}-key-${index}`, baseURL: proxy?.url ?? front.url });
          let turn = 0;
          while (Date.now() < deadline) {
            turn += 1;
            try {
              const message = await sdk.messages.create({
                model: 'claude-sonnet-4-5',
                max_tokens: 260 + ((index * 37 + turn * 11) % 140),
                messages: [{ role: 'user', content: 'x'.repeat(600 + ((index * 131 + turn * 53) % 1_800)) }],
              });
              if (Date.now() <= deadline) tokens[org] += message.usage.input_tokens + message.usage.output_tokens;
            } catch {
              clientErrors[org] += 1;
            }
          }
        }),
      ),
    );
    const capacity = (limit: number): number => ((windowMs + durationMs) * limit) / windowMs;
    return {
      goodput: { a: tokens.a / capacity(limits.a), b: tokens.b / capacity(limits.b) },
      upstream429s: { a: simA.stats().rateLimited, b: simB.stats().rateLimited },
      clientErrors,
    };
  } finally {
    if (disturbed !== null) clearTimeout(disturbed);
    await proxy?.close(0);
    await front.close();
    await simA.close();
    await simB.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function organizations(): Promise<string[]> {
  const durationMs = Number(values.duration) * 1_000;
  const direct = await organizationsRun(false, durationMs, false);
  const calm = await organizationsRun(false, durationMs);
  const disturbed = await organizationsRun(true, durationMs);
  const pct = (share: number): string => `${(share * 100).toFixed(1)} %`;
  const row = (name: string, run: typeof calm): string =>
    `| ${name} | ${pct(run.goodput.a)} | ${run.upstream429s.a} | ${run.clientErrors.a} | ${pct(run.goodput.b)} | ${run.upstream429s.b} | ${run.clientErrors.b} |`;
  return [
    `organizations: two behind one proxy (A 30 000, B 15 000 tokens per 6 s, token buckets), 8 keys each on @anthropic-ai/sdk (default retries), ${values.duration} s, ratewarden defaults scaled ×10; "A refuses" = A answers only 429 for 3 s in the middle`,
    '',
    '| run | A goodput | A upstream 429s | A client errors | B goodput | B upstream 429s | B client errors |',
    '|---|---|---|---|---|---|---|',
    row('no proxy, calm', direct),
    row('calm', calm),
    row('A refuses', disturbed),
    '',
  ];
}

const lines: string[] = [];
if (values.only !== 'organizations') lines.push(...(await fairness()));
if (values.only !== 'fairness') lines.push(...(await organizations()));
process.stdout.write(`${lines.join('\n')}\n`);
