/**
 * Cardinality (issue 26 item 4): what many scopes cost the service. A real proxy on a real
 * SQLite file in front of a local upstream that answers 200:
 * 1. N scopes made through the warden directly (as N keys would make them), then the health
 *    check's latency over HTTP, one tick's time, and the /metrics size;
 * 2. a flood of random API keys through the proxy over HTTP: how many scopes it made.
 * Rounds of the sizes are interleaved. Usage (after npm run build: the SQLite checkpoint thread runs from dist/): node --import tsx bench/cardinality.ts [--sizes 1000,5000] [--flood 2000]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { startProxy } from '../src/cli/composeWorker.js';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1000,5000' }, flood: { type: 'string', default: '2000' } } });
const sizes = values.sizes.split(',').map(Number);
const flood = Number(values.flood);

const median = (samples: number[]): number => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)] ?? Number.NaN;

async function withProxy<T>(work: (proxy: Awaited<ReturnType<typeof startProxy>>, dir: string) => Promise<T>): Promise<T> {
  const upstream = createServer((request, response) => {
    request.resume();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ type: 'message', usage: { input_tokens: 5, output_tokens: 5 } }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const dir = mkdtempSync(join(tmpdir(), 'ratewarden-cardinality-'));
  const settings = loadConfig({
    flags: {
      upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
      provider: 'anthropic',
      listen: '127.0.0.1:0',
      db: join(dir, 'bench.db'),
      scopeBy: 'key',
      stopTimeout: '2s',
    },
    env: { XDG_CONFIG_HOME: '/nonexistent/ratewarden-bench', XDG_STATE_HOME: dir },
  }).settings;
  const proxy = await startProxy(settings);
  try {
    return await work(proxy, dir);
  } finally {
    await proxy.close(0);
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function scopesRound(size: number): Promise<{ size: number; healthMs: number; tickMs: number; metricsBytes: number }> {
  return withProxy(async (proxy) => {
    const estimate = { inputTokens: 10, outputTokens: 10 };
    for (let i = 0; i < size; i++) {
      const admission = await proxy.warden.admit({
        method: 'POST',
        path: '/v1/messages',
        estimate,
        scope: `bench${i.toString(16).padStart(12, '0')}/all`,
      });
      if (admission.kind === 'admitted') await proxy.warden.settle(admission.requestId, { outcome: 'ok', status: 200, usage: estimate });
    }
    // Measured once the scopes are settled (nothing touched them for a while): the steady state of a flood that has passed.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const health: number[] = [];
    for (let i = 0; i < 15; i++) {
      const started = performance.now();
      await (await fetch(`${proxy.url}/_ratewarden/health`)).arrayBuffer();
      health.push(performance.now() - started);
    }
    const ticks: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await proxy.warden.tick();
      ticks.push(performance.now() - started);
    }
    const metricsBytes = (await (await fetch(`${proxy.url}/_ratewarden/metrics`)).arrayBuffer()).byteLength;
    return { size, healthMs: median(health), tickMs: median(ticks.slice(1)), metricsBytes };
  });
}

async function floodRound(keys: number): Promise<{ keys: number; scopes: number; ok: number; metricsBytes: number }> {
  return withProxy(async (proxy) => {
    const body = JSON.stringify({ model: 'claude-sim', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
    let ok = 0;
    for (let sent = 0; sent < keys; sent += 50) {
      const answers = await Promise.all(
        Array.from({ length: Math.min(50, keys - sent) }, () =>
          fetch(`${proxy.url}/v1/messages`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-api-key': `sk-${randomBytes(12).toString('hex')}` },
            body,
          }),
        ),
      );
      for (const answer of answers) {
        await answer.arrayBuffer();
        if (answer.status === 200) ok += 1;
      }
    }
    const metricsBytes = (await (await fetch(`${proxy.url}/_ratewarden/metrics`)).arrayBuffer()).byteLength;
    return { keys, scopes: (await proxy.warden.views.activeScopes()).length, ok, metricsBytes };
  });
}

for (let round = 1; round <= 2; round++) {
  for (const size of sizes) {
    const result = await scopesRound(size);
    console.log(
      `round ${round} scopes=${result.size}: health median ${result.healthMs.toFixed(1)} ms, tick median ${result.tickMs.toFixed(1)} ms, /metrics ${result.metricsBytes} bytes`,
    );
  }
}
const result = await floodRound(flood);
console.log(
  `flood of ${result.keys} random keys over HTTP: ${result.ok} answered 200, ${result.scopes} scopes, /metrics ${result.metricsBytes} bytes`,
);
