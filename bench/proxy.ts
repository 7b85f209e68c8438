/**
 * Proxy overhead: the same local upstream hit directly, through a minimal Node pass-through
 * proxy, and through a real `ratewarden run --no-supervise` worker (budgets far above the load,
 * so nothing is refused), with autocannon. Each target runs in its own process; autocannon runs
 * here. Targets: ratewarden ≥ 0.7× the pass-through's throughput at 64 connections, and p50
 * added latency ≤ 1 ms over direct, measured one request at a time (autocannon's latencies are
 * whole milliseconds, and at 64 connections they are mostly queueing).
 *
 * Usage: npm run bench:proxy [-- --duration 10]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const thisFile = fileURLToPath(import.meta.url);
const sequentialRequests = 2_000;
const warmupSeconds = 5;
const binary = fileURLToPath(new URL('../bin/ratewarden', import.meta.url));

const reply = JSON.stringify({
  id: 'msg_bench',
  type: 'message',
  role: 'assistant',
  model: 'bench',
  content: [{ type: 'text', text: 'ok' }],
  stop_reason: 'end_turn',
  usage: { input_tokens: 12, output_tokens: 3 },
});
const requestBody = JSON.stringify({ model: 'bench', max_tokens: 16, messages: [{ role: 'user', content: 'ping' }] });

function announce(port: number): void {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
}

/** The upstream: answers every request with a small Anthropic-shaped JSON message. */
function serveUpstream(): void {
  const server = createServer((request, response) => {
    request.resume();
    request.once('end', () => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply) });
      response.end(reply);
    });
  });
  server.listen(0, '127.0.0.1', () => announce((server.address() as AddressInfo).port));
}

/** The baseline: the least a Node proxy does — pipe the request up and the answer back. */
function servePassThrough(upstreamUrl: string): void {
  const upstream = new URL(upstreamUrl);
  const agent = new Agent({ keepAlive: true });
  const server = createServer((request, response) => {
    const forwarded = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: { ...request.headers, host: upstream.host }, agent },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    forwarded.once('error', () => {
      response.writeHead(502);
      response.end();
    });
    request.pipe(forwarded);
  });
  server.listen(0, '127.0.0.1', () => announce((server.address() as AddressInfo).port));
}

function waitForUrl(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = pattern.exec(output);
      if (match) resolve(match[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before it listened:\n${output}`)));
  });
}

function startRole(role: 'upstream' | 'pass-through', ...args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...process.execArgv, thisFile, '--role', role, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return waitForUrl(child, /"url":"([^"]+)"/).then((url) => ({ child, url }));
}

async function startRatewarden(upstreamUrl: string, dbPath: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [binary, 'run', '--no-supervise', '--upstream', upstreamUrl, '--provider', 'anthropic', '--listen', '127.0.0.1:0', '--db', dbPath, '--token-budget', '1000000000000', '--request-budget', '1000000000'],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, XDG_CONFIG_HOME: join(dbPath, '..', 'config') } },
  );
  const url = await waitForUrl(child, /listening on (http:\/\/\S+)/);
  return { child, url };
}

interface Measurement {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU time the target process spent per request, in µs; null where /proc is not available. */
  cpuPerRequestUs: number | null;
}

/** utime + stime of a process in µs, from /proc (Linux); null elsewhere. */
function cpuTimeUs(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1_000_000) / clockTicksPerSecond : null;
  } catch {
    return null;
  }
}

const clockTicksPerSecond = 100;

async function measure(url: string, pid: number, connections: number, duration: number): Promise<Measurement> {
  const options = { url: `${url}/v1/messages`, connections, method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'sk-bench' }, body: requestBody };
  // Long enough for V8 to optimise the request path: the first seconds measure the compiler.
  await autocannon({ ...options, duration: warmupSeconds });
  const cpuBefore = cpuTimeUs(pid);
  const result = await autocannon({ ...options, duration });
  const cpuAfter = cpuTimeUs(pid);
  const served = result['2xx'];
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    cpuPerRequestUs: cpuBefore === null || cpuAfter === null || served === 0 ? null : (cpuAfter - cpuBefore) / served,
  };
}

interface Latency {
  p50: number;
  p99: number;
}

function timedRequest(url: URL, agent: Agent): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: url.hostname, port: url.port, method: 'POST', path: '/v1/messages', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(requestBody), 'x-api-key': 'sk-bench' } },
      (response) => {
        response.resume();
        response.once('end', () => resolve(Number(process.hrtime.bigint() - started) / 1e6));
      },
    );
    request.once('error', reject);
    request.end(requestBody);
  });
}

/** One request at a time over one kept-alive connection: latency without queueing, to the µs. */
async function sequentialLatency(baseUrl: string, count: number): Promise<Latency> {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (let index = 0; index < 200; index++) await timedRequest(url, agent);
  const samples: number[] = [];
  for (let index = 0; index < count; index++) samples.push(await timedRequest(url, agent));
  agent.destroy();
  samples.sort((a, b) => a - b);
  const at = (fraction: number): number => samples[Math.min(samples.length - 1, Math.floor(samples.length * fraction))] as number;
  return { p50: at(0.5), p99: at(0.99) };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function main(duration: number): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), 'ratewarden-bench-'));
  const children: ChildProcess[] = [];
  try {
    const upstream = await startRole('upstream');
    children.push(upstream.child);
    const passThrough = await startRole('pass-through', '--upstream', upstream.url);
    children.push(passThrough.child);
    const ratewarden = await startRatewarden(upstream.url, join(folder, 'bench.db'));
    children.push(ratewarden.child);

    const targets = [
      ['direct', upstream.url, upstream.child.pid as number],
      ['pass-through', passThrough.url, passThrough.child.pid as number],
      ['ratewarden', ratewarden.url, ratewarden.child.pid as number],
    ] as const;
    const loaded = new Map<string, Measurement>();
    const single = new Map<string, Latency>();
    for (const [name, url, pid] of targets) {
      process.stderr.write(`measuring ${name} …\n`);
      loaded.set(name, await measure(url, pid, 64, duration));
      single.set(name, await sequentialLatency(url, sequentialRequests));
    }

    const cpu = (m: Measurement): string => (m.cpuPerRequestUs === null ? 'n/a' : Math.round(m.cpuPerRequestUs).toString());
    const row = (name: string, m: Measurement): string =>
      `| ${name.padEnd(12)} | ${Math.round(m.requestsPerSecond).toString().padStart(7)} | ${m.p50.toFixed(0).padStart(6)} | ${m.p99.toFixed(0).padStart(6)} | ${cpu(m).padStart(14)} | ${String(m.errors).padStart(6)} |`;
    const header = '| target       |   req/s | p50 ms | p99 ms | CPU µs/request | errors |\n|--------------|--------:|-------:|-------:|---------------:|-------:|';
    process.stdout.write(`\n64 connections, ${duration} s each\n${header}\n`);
    for (const [name] of targets) process.stdout.write(`${row(name, loaded.get(name) as Measurement)}\n`);
    process.stdout.write(`\nOne request at a time, ${sequentialRequests} requests each\n| target       | p50 ms | p99 ms |\n|--------------|-------:|-------:|\n`);
    for (const [name] of targets) {
      const latency = single.get(name) as Latency;
      process.stdout.write(`| ${name.padEnd(12)} | ${latency.p50.toFixed(3).padStart(6)} | ${latency.p99.toFixed(3).padStart(6)} |\n`);
    }

    const ratio = (loaded.get('ratewarden') as Measurement).requestsPerSecond / (loaded.get('pass-through') as Measurement).requestsPerSecond;
    const added = (single.get('ratewarden') as Latency).p50 - (single.get('direct') as Latency).p50;
    process.stdout.write(
      `\nratewarden / pass-through throughput: ${ratio.toFixed(2)}× (target ≥ 0.70) ${ratio >= 0.7 ? 'met' : 'MISSED'}\n` +
        `p50 latency added over direct, one request at a time: ${added.toFixed(3)} ms (target ≤ 1 ms) ${added <= 1 ? 'met' : 'MISSED'}\n`,
    );
  } finally {
    await Promise.all(children.map(stop));
    rmSync(folder, { recursive: true, force: true });
  }
}

const { values } = parseArgs({ options: { role: { type: 'string' }, upstream: { type: 'string' }, duration: { type: 'string', default: '10' } } });
if (values.role === undefined) {
  await main(Number(values.duration));
} else {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
  if (values.role === 'upstream') serveUpstream();
  else servePassThrough(values.upstream as string);
}
