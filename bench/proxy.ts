/**
 * Proxy overhead, measured the way issues 15 and 25 ask: the same local upstream hit directly,
 * through a minimal Node pass-through proxy, and through a real `ratewarden run --no-supervise`
 * worker (budgets far above the load, so nothing is refused). Each target runs in its own process;
 * the load is generated here. The targets are measured in interleaved rounds (A/B alternating: the
 * order flips every round, so drift from other load on the machine falls on both sides), and
 * every figure is the median over the rounds with its [min–max].
 *
 * The upstream answers with the headers Anthropic's API sends on every answer (`request-id`,
 * `anthropic-organization-id` and the `anthropic-ratelimit-*` family: requests, input, output and
 * combined tokens, each with its limit, remaining and reset in RFC 3339), because the real
 * upstream does: reading them, learning the key's organization and adopting the reported limits
 * is part of ratewarden's request path and of its cost. The limits are far above the load (this
 * measures overhead, and ratewarden must refuse nothing); every reset is a second or two ahead,
 * when the bucket is full again. `--upstream-headers none` leaves them out and reproduces the
 * measurements made before the switch. The pass-through and direct see the same upstream.
 *
 * Per round:
 * - throughput at 64 and at 1 keep-alive connection (autocannon), with the worker CPU per
 *   request (utime + stime from /proc/<pid>/stat around the measurement), and the ratio
 *   ratewarden ÷ pass-through of that round;
 * - latency one request at a time over one kept-alive connection, timed with process.hrtime:
 *   p50 and p99, and what ratewarden adds over direct;
 * - an open-loop constant-rate load (`--rate` req/s for `--rate-seconds`, sent on schedule
 *   whether or not earlier answers came back): the slowest request's latency, direct and
 *   through ratewarden, and ratewarden's slowest admission read from its /metrics histogram
 *   ratewarden_added_latency_seconds (arrival until sent upstream, less any queue wait);
 * - `--streams` concurrent slow SSE streams (the upstream sends an event every
 *   `--event-interval` ms, `--stream-events` of them): worker CPU per event, ratewarden against
 *   the pass-through, and each proxy's peak RSS while its streams run (VmRSS from
 *   /proc/<pid>/status, sampled every 100 ms).
 *
 * Targets (issue 25): ≥ 0.8× the pass-through's req/s at 64 connections and ≥ 0.8× at 1; added
 * latency p50 ≤ 0.3 ms and p99 ≤ 1 ms; worker CPU per request ≤ 1.3× the pass-through's, at 64
 * and at 1 connection; SSE CPU per event ≤ 1.3× the pass-through's; RSS ≤ 150 MiB during the SSE
 * phase. Kept from issue 15: no admission slower than 5 ms at 1 500 req/s.
 *
 * Usage: npm run bench:proxy [-- options]
 *   --rounds <n>           interleaved rounds (default 5)
 *   --duration <s>         seconds per throughput measurement (default 5)
 *   --warmup <s>           seconds of load on each target before the first round (default 5)
 *   --sequential <n>       requests per target per round, one at a time (default 2000)
 *   --rate <n>             requests per second of the open-loop load (default 1500)
 *   --rate-seconds <s>     seconds of the open-loop load per target per round (default 5)
 *   --streams <n>          concurrent SSE streams (default 1000)
 *   --stream-events <n>    events per stream, besides its start and end (default 50)
 *   --event-interval <ms>  between two events of a stream (default 100)
 *   --phases <list>        which to run, of throughput,latency,rate,sse (default all)
 *   --upstream-headers <anthropic|none>
 *                          the upstream's answer headers: Anthropic's (default) or none
 *   --profile <dir>        run the ratewarden worker with --cpu-prof, profiles written to <dir>
 *   --baseline <bin>       also measure another build's bin/ratewarden (say, the main branch's)
 *                          as the target "baseline", interleaved with the others, for a
 *                          before/after comparison under the same load
 *   --json                 print the rounds and the summary as JSON instead of tables
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, Agent, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const thisFile = fileURLToPath(import.meta.url);
const binary = fileURLToPath(new URL('../bin/ratewarden', import.meta.url));
const metricsPath = '/_ratewarden/metrics';
const streamHeader = 'x-bench-stream';

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
const requestHeaders = {
  'content-type': 'application/json',
  'content-length': String(Buffer.byteLength(requestBody)),
  'x-api-key': 'sk-bench',
};

type UpstreamHeaders = 'anthropic' | 'none';
const upstreamHeaderChoices: readonly UpstreamHeaders[] = ['anthropic', 'none'];

/** The organization the bench's one key belongs to: the same on every answer, as Anthropic names it. */
const organizationId = '3f6c2b8e-9a41-4d57-b0e2-7c15d8a9e364';
/** Far above anything the bench sends, so that the adopted limits never refuse: it measures overhead. */
const reportedRequestLimit = 100_000_000;
const reportedTokenLimit = 10_000_000_000;
let answered = 0;
let resetSecond = 0;
let resetText = '';

/** When the buckets are full again: the next whole second after now + 1 s, in RFC 3339 as Anthropic writes it (whole seconds). */
function resetTime(): string {
  const second = Math.ceil((Date.now() + 1000) / 1000);
  if (second !== resetSecond) {
    resetSecond = second;
    resetText = new Date(second * 1000).toISOString().replace('.000Z', 'Z');
  }
  return resetText;
}

function bucketHeaders(name: string, limit: number, used: number, reset: string): Record<string, string> {
  return {
    [`anthropic-ratelimit-${name}-limit`]: String(limit),
    [`anthropic-ratelimit-${name}-remaining`]: String(limit - used),
    [`anthropic-ratelimit-${name}-reset`]: reset,
  };
}

/**
 * What Anthropic's API sends with every answer (docs.anthropic.com/en/api/overview, "Response
 * headers", and /en/api/rate-limits); the remaining token counts are whole thousands, as it rounds them.
 */
function anthropicHeaders(): Record<string, string> {
  answered += 1;
  const reset = resetTime();
  return {
    'request-id': `req_bench${answered.toString(36).padStart(18, '0')}`,
    'anthropic-organization-id': organizationId,
    ...bucketHeaders('requests', reportedRequestLimit, 1, reset),
    ...bucketHeaders('input-tokens', reportedTokenLimit, 1000, reset),
    ...bucketHeaders('output-tokens', reportedTokenLimit, 1000, reset),
    ...bucketHeaders('tokens', reportedTokenLimit, 1000, reset),
  };
}

function answerHeaders(mode: UpstreamHeaders): Record<string, string> {
  return mode === 'anthropic' ? anthropicHeaders() : {};
}

function announce(port: number): void {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
}

function sseEvent(type: string, data: object): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

/** An Anthropic-shaped stream: start, `events` text deltas one every `intervalMs`, then the usage and the end. */
function streamSlowly(response: import('node:http').ServerResponse, events: number, intervalMs: number, mode: UpstreamHeaders): void {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...answerHeaders(mode) });
  response.write(
    sseEvent('message_start', {
      message: {
        id: 'msg_bench',
        type: 'message',
        role: 'assistant',
        model: 'bench',
        content: [],
        usage: { input_tokens: 12, output_tokens: 1 },
      },
    }),
  );
  let sent = 0;
  const timer = setInterval(() => {
    if (sent < events) {
      sent += 1;
      response.write(sseEvent('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'tick' } }));
      return;
    }
    clearInterval(timer);
    response.write(sseEvent('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: events } }));
    response.end(sseEvent('message_stop', {}));
  }, intervalMs);
  response.once('close', () => clearInterval(timer));
}

/** The upstream: a small Anthropic-shaped JSON message, or a slow stream when the request asks for one; with Anthropic's headers or none. */
function serveUpstream(events: number, intervalMs: number, mode: UpstreamHeaders): void {
  const server = createServer((request, response) => {
    request.resume();
    request.once('end', () => {
      if (request.headers[streamHeader] !== undefined) return streamSlowly(response, events, intervalMs, mode);
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply), ...answerHeaders(mode) });
      response.end(reply);
    });
  });
  server.listen(0, '127.0.0.1', 1024, () => announce((server.address() as AddressInfo).port));
}

/** The baseline: the least a Node proxy does — pipe the request up and the answer back. */
function servePassThrough(upstreamUrl: string): void {
  const upstream = new URL(upstreamUrl);
  const agent = new Agent({ keepAlive: true });
  const server = createServer((request, response) => {
    const forwarded = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: { ...request.headers, host: upstream.host },
        agent,
      },
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
  server.listen(0, '127.0.0.1', 1024, () => announce((server.address() as AddressInfo).port));
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

async function startRatewarden(
  bin: string,
  upstreamUrl: string,
  dbPath: string,
  profileDir: string | undefined,
): Promise<{ child: ChildProcess; url: string }> {
  const profile = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${resolvePath(profileDir)}`];
  const child = spawn(
    process.execPath,
    [
      ...profile,
      bin,
      'run',
      '--no-supervise',
      '--upstream',
      upstreamUrl,
      '--provider',
      'anthropic',
      '--listen',
      '127.0.0.1:0',
      '--db',
      dbPath,
      '--token-budget',
      '1000000000000',
      '--request-budget',
      '1000000000',
      '--stop-timeout',
      '5s',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, XDG_CONFIG_HOME: join(dbPath, '..', 'config') } },
  );
  const url = await waitForUrl(child, /listening on (http:\/\/\S+)/);
  return { child, url };
}

const clockTicksPerSecond = 100;

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

/** CPU µs the process spent while `work` ran, divided by `work`'s count of units; null without /proc. */
async function cpuPer(pid: number, work: () => Promise<number>): Promise<{ units: number; cpuPerUnitUs: number | null }> {
  const before = cpuTimeUs(pid);
  const units = await work();
  const after = cpuTimeUs(pid);
  return { units, cpuPerUnitUs: before === null || after === null || units === 0 ? null : (after - before) / units };
}

/** A process's resident set (VmRSS from /proc/<pid>/status) in MiB; null without /proc. */
function rssMiB(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** The process's highest resident set while `work` ran, sampled every 100 ms (and at both ends); null without /proc. */
async function peakRssDuring<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peakRssMiB: number | null }> {
  let peak: number | null = null;
  const sample = (): void => {
    const now = rssMiB(pid);
    if (now !== null) peak = Math.max(peak ?? 0, now);
  };
  sample();
  const sampler = setInterval(sample, 100);
  try {
    const result = await work();
    sample();
    return { result, peakRssMiB: peak };
  } finally {
    clearInterval(sampler);
  }
}

type TargetName = 'direct' | 'pass-through' | 'ratewarden' | 'baseline';

interface Target {
  name: TargetName;
  url: string;
  pid: number;
}

interface Throughput {
  requestsPerSecond: number;
  cpuPerRequestUs: number | null;
  errors: number;
}

function loadOptions(url: string, connections: number, duration: number): Parameters<typeof autocannon>[0] {
  // autocannon frames the body itself: a Content-Length of ours would be sent twice.
  const { 'content-length': _framedByAutocannon, ...headers } = requestHeaders;
  return { url: `${url}/v1/messages`, connections, method: 'POST', headers, body: requestBody, duration };
}

async function throughput(target: Target, connections: number, duration: number): Promise<Throughput> {
  let errors = 0;
  let requestsPerSecond = 0;
  const { cpuPerUnitUs } = await cpuPer(target.pid, async () => {
    const result = await autocannon(loadOptions(target.url, connections, duration));
    errors = result.errors + result.timeouts + result.non2xx;
    requestsPerSecond = result.requests.average;
    return result['2xx'];
  });
  return { requestsPerSecond, cpuPerRequestUs: cpuPerUnitUs, errors };
}

/** One request's latency in ms, from the moment it is handed to the socket until its answer has ended. */
function timedRequest(url: URL, agent: Agent): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: url.hostname, port: url.port, method: 'POST', path: '/v1/messages', agent, headers: requestHeaders },
      (response) => {
        response.resume();
        response.once('end', () =>
          response.statusCode === 200
            ? resolve(Number(process.hrtime.bigint() - started) / 1e6)
            : reject(new Error(`status ${response.statusCode}`)),
        );
      },
    );
    request.once('error', reject);
    request.end(requestBody);
  });
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

interface Latency {
  p50: number;
  p99: number;
}

/** One request at a time over one kept-alive connection: latency without queueing, to the µs. */
async function sequentialLatency(baseUrl: string, count: number): Promise<Latency> {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let index = 0; index < 200; index++) await timedRequest(url, agent);
    const samples: number[] = [];
    for (let index = 0; index < count; index++) samples.push(await timedRequest(url, agent));
    samples.sort((a, b) => a - b);
    return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
  } finally {
    agent.destroy();
  }
}

interface ConstantRate {
  sent: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * Open loop: request i is sent at start + i / rate whatever became of the earlier ones, so a
 * stall inside the target shows as the latency of every request that arrived during it.
 */
async function constantRate(baseUrl: string, rate: number, seconds: number): Promise<ConstantRate> {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const total = Math.round(rate * seconds);
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  let errors = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    let sent = 0;
    const pump = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      for (; sent < due; sent++) {
        pending.push(
          timedRequest(url, agent).then(
            (ms) => void latencies.push(ms),
            () => void (errors += 1),
          ),
        );
      }
      if (sent < total) setTimeout(pump, 1);
      else resolve();
    };
    pump();
  });
  await Promise.all(pending);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    sent: total,
    errors,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies[latencies.length - 1] ?? Number.NaN,
  };
}

/** Cumulative bucket counts of one histogram in a Prometheus exposition, by upper bound in seconds. */
function histogramBuckets(exposition: string, name: string): Map<number, number> {
  const buckets = new Map<number, number>();
  const pattern = new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"[^}]*\\} (\\S+)$`, 'gm');
  for (const match of exposition.matchAll(pattern))
    buckets.set(match[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(match[1]), Number(match[2]));
  return buckets;
}

function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpRequest(url, (response: IncomingMessage) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.once('end', () => resolve(text));
    })
      .once('error', reject)
      .end();
  });
}

interface Admissions {
  count: number;
  /** Admissions whose added latency was above 5 ms (the histogram has a 5 ms bound). */
  above5ms: number;
  /** The smallest histogram bound at or under which every admission fell, in ms. */
  slowestAtMostMs: number;
}

/** What the worker's added-latency histogram counted between two scrapes. */
function admissionsBetween(before: string, after: string): Admissions {
  const name = 'ratewarden_added_latency_seconds';
  const earlier = histogramBuckets(before, name);
  const later = histogramBuckets(after, name);
  const delta = (bound: number): number => (later.get(bound) ?? 0) - (earlier.get(bound) ?? 0);
  const count = delta(Number.POSITIVE_INFINITY);
  const bounds = [...later.keys()].sort((a, b) => a - b);
  const slowest = bounds.find((bound) => delta(bound) === count) ?? Number.POSITIVE_INFINITY;
  return { count, above5ms: count - delta(0.005), slowestAtMostMs: slowest * 1000 };
}

/** Opens `streams` slow SSE streams at once and reads them to the end; the events received. */
async function slowStreams(baseUrl: string, streams: number, eventsPerStream: number): Promise<{ events: number; incomplete: number }> {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  let events = 0;
  let incomplete = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const request = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/v1/messages',
          agent,
          headers: { ...requestHeaders, [streamHeader]: '1' },
        },
        (response) => {
          let seen = 0;
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            for (let at = chunk.indexOf('\n\n'); at !== -1; at = chunk.indexOf('\n\n', at + 2)) seen += 1;
          });
          response.once('end', () => {
            events += seen;
            if (seen !== eventsPerStream) incomplete += 1;
            resolve();
          });
          response.once('error', () => {
            incomplete += 1;
            resolve();
          });
        },
      );
      request.once('error', () => {
        incomplete += 1;
        resolve();
      });
      request.end(requestBody);
    });
  await Promise.all(Array.from({ length: streams }, one));
  agent.destroy();
  return { events, incomplete };
}

interface Streams {
  events: number;
  incomplete: number;
  cpuPerEventUs: number | null;
  peakRssMiB: number | null;
}

/** One target's SSE phase: its CPU per event and its peak resident set while the streams run. */
async function measureStreams(target: Target, settings: Settings): Promise<Streams> {
  const eventsPerStream = settings.streamEvents + 3;
  let outcome = { events: 0, incomplete: 0 };
  const { result, peakRssMiB } = await peakRssDuring(target.pid, () =>
    cpuPer(target.pid, async () => {
      outcome = await slowStreams(target.url, settings.streams, eventsPerStream);
      return outcome.events;
    }),
  );
  return { ...outcome, cpuPerEventUs: result.cpuPerUnitUs, peakRssMiB };
}

interface Round {
  order: TargetName[];
  throughput64: Partial<Record<TargetName, Throughput>>;
  throughput1: Partial<Record<TargetName, Throughput>>;
  latency: Partial<Record<TargetName, Latency>>;
  rate: Partial<Record<'direct' | 'ratewarden', ConstantRate>>;
  admissions: Admissions | null;
  sse: Partial<Record<'pass-through' | 'ratewarden' | 'baseline', Streams>>;
}

interface Settings {
  rounds: number;
  duration: number;
  warmup: number;
  sequential: number;
  rate: number;
  rateSeconds: number;
  streams: number;
  streamEvents: number;
  eventInterval: number;
  phases: Set<string>;
  upstreamHeaders: UpstreamHeaders;
  profile: string | undefined;
  baseline: string | undefined;
  json: boolean;
}

async function runRound(
  index: number,
  targets: Partial<Record<TargetName, Target>> & Record<'direct' | 'pass-through' | 'ratewarden', Target>,
  settings: Settings,
): Promise<Round> {
  const forward: TargetName[] = ['direct', 'pass-through', 'ratewarden', ...(targets.baseline ? (['baseline'] as const) : [])];
  const target = (name: TargetName): Target => targets[name] as Target;
  const order = index % 2 === 0 ? forward : [...forward].reverse();
  const round: Round = { order, throughput64: {}, throughput1: {}, latency: {}, rate: {}, admissions: null, sse: {} };
  const say = (what: string): void => void process.stderr.write(`round ${index + 1}/${settings.rounds}: ${what}\n`);
  if (settings.phases.has('throughput')) {
    for (const connections of [64, 1]) {
      for (const name of order) {
        say(`${name}, ${connections} connection${connections === 1 ? '' : 's'}`);
        (connections === 64 ? round.throughput64 : round.throughput1)[name] = await throughput(
          target(name),
          connections,
          settings.duration,
        );
      }
    }
  }
  if (settings.phases.has('latency')) {
    for (const name of order) {
      say(`${name}, one request at a time`);
      round.latency[name] = await sequentialLatency(target(name).url, settings.sequential);
    }
  }
  if (settings.phases.has('rate')) {
    for (const name of order.filter((n): n is 'direct' | 'ratewarden' => n === 'direct' || n === 'ratewarden')) {
      say(`${name}, ${settings.rate} req/s open loop`);
      const before = name === 'ratewarden' ? await fetchText(`${targets.ratewarden.url}${metricsPath}`) : '';
      round.rate[name] = await constantRate(target(name).url, settings.rate, settings.rateSeconds);
      if (name === 'ratewarden') round.admissions = admissionsBetween(before, await fetchText(`${targets.ratewarden.url}${metricsPath}`));
    }
  }
  if (settings.phases.has('sse')) {
    for (const name of order.filter((n): n is 'pass-through' | 'ratewarden' | 'baseline' => n !== 'direct')) {
      say(`${name}, ${settings.streams} slow SSE streams`);
      round.sse[name] = await measureStreams(target(name), settings);
    }
  }
  return round;
}

interface Spread {
  median: number;
  min: number;
  max: number;
}

function spread(values: readonly (number | null | undefined)[]): Spread | null {
  const known = values.filter((value): value is number => typeof value === 'number' && Number.isFinite(value)).sort((a, b) => a - b);
  if (known.length === 0) return null;
  const middle = Math.floor(known.length / 2);
  const median = known.length % 2 === 1 ? (known[middle] as number) : ((known[middle - 1] as number) + (known[middle] as number)) / 2;
  return { median, min: known[0] as number, max: known[known.length - 1] as number };
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : null;
}

type Pick = (pick: (round: Round) => number | null | undefined) => Spread | null;
type Summary = Record<string, Spread | null>;

function perTarget(per: Pick): Summary {
  const summary: Summary = {};
  for (const name of ['direct', 'pass-through', 'ratewarden', 'baseline'] as const) {
    summary[`${name} req/s @64`] = per((r) => r.throughput64[name]?.requestsPerSecond);
    summary[`${name} CPU µs/request @64`] = per((r) => r.throughput64[name]?.cpuPerRequestUs);
    summary[`${name} req/s @1`] = per((r) => r.throughput1[name]?.requestsPerSecond);
    summary[`${name} CPU µs/request @1`] = per((r) => r.throughput1[name]?.cpuPerRequestUs);
    summary[`${name} p50 ms`] = per((r) => r.latency[name]?.p50);
    summary[`${name} p99 ms`] = per((r) => r.latency[name]?.p99);
  }
  for (const name of ['pass-through', 'ratewarden', 'baseline'] as const) {
    summary[`${name} SSE CPU µs/event`] = per((r) => r.sse[name]?.cpuPerEventUs);
    summary[`${name} SSE peak RSS MiB`] = per((r) => r.sse[name]?.peakRssMiB);
  }
  return summary;
}

/** Ratewarden, or the baseline, against the pass-through and direct, each ratio taken within its round. */
function against(per: Pick, name: 'ratewarden' | 'baseline'): Summary {
  const prefix = name === 'ratewarden' ? '' : 'baseline ';
  return {
    [`${prefix}ratio req/s @64`]: per((r) =>
      ratio(r.throughput64[name]?.requestsPerSecond, r.throughput64['pass-through']?.requestsPerSecond),
    ),
    [`${prefix}ratio req/s @1`]: per((r) =>
      ratio(r.throughput1[name]?.requestsPerSecond, r.throughput1['pass-through']?.requestsPerSecond),
    ),
    [`${prefix}ratio CPU/request @64`]: per((r) =>
      ratio(r.throughput64[name]?.cpuPerRequestUs, r.throughput64['pass-through']?.cpuPerRequestUs),
    ),
    [`${prefix}ratio CPU/request @1`]: per((r) =>
      ratio(r.throughput1[name]?.cpuPerRequestUs, r.throughput1['pass-through']?.cpuPerRequestUs),
    ),
    [`${prefix}added p50 ms`]: per((r) => (r.latency[name] && r.latency.direct ? r.latency[name].p50 - r.latency.direct.p50 : null)),
    [`${prefix}added p99 ms`]: per((r) => (r.latency[name] && r.latency.direct ? r.latency[name].p99 - r.latency.direct.p99 : null)),
    [`${prefix}ratio SSE CPU/event`]: per((r) => ratio(r.sse[name]?.cpuPerEventUs, r.sse['pass-through']?.cpuPerEventUs)),
  };
}

function openLoop(per: Pick): Summary {
  return {
    'direct rate p99 ms': per((r) => r.rate.direct?.p99),
    'direct rate max ms': per((r) => r.rate.direct?.max),
    'ratewarden rate p99 ms': per((r) => r.rate.ratewarden?.p99),
    'ratewarden rate max ms': per((r) => r.rate.ratewarden?.max),
    'rate slowest added ms': per((r) => (r.rate.ratewarden && r.rate.direct ? r.rate.ratewarden.max - r.rate.direct.p50 : null)),
    'admissions > 5 ms': per((r) => r.admissions?.above5ms),
    'slowest admission ≤ ms': per((r) => r.admissions?.slowestAtMostMs),
  };
}

function summarise(rounds: readonly Round[]): Summary {
  const per: Pick = (pick) => spread(rounds.map(pick));
  return {
    ...perTarget(per),
    ...against(per, 'ratewarden'),
    ...openLoop(per),
    ...against(per, 'baseline'),
    'ratewarden ÷ baseline CPU/request @64': per((r) =>
      ratio(r.throughput64.ratewarden?.cpuPerRequestUs, r.throughput64.baseline?.cpuPerRequestUs),
    ),
    'ratewarden ÷ baseline CPU/request @1': per((r) =>
      ratio(r.throughput1.ratewarden?.cpuPerRequestUs, r.throughput1.baseline?.cpuPerRequestUs),
    ),
  };
}

function formatNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toString();
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

function formatSpread(value: Spread | null | undefined): string {
  return value ? `${formatNumber(value.median)} [${formatNumber(value.min)}–${formatNumber(value.max)}]` : 'n/a';
}

function table(title: string, columns: string[], rows: string[][]): string {
  const widths = columns.map((column, index) => Math.max(column.length, ...rows.map((row) => (row[index] ?? '').length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((cell, index) => (index === 0 ? cell.padEnd(widths[index] as number) : cell.padStart(widths[index] as number))).join(' | ')} |`;
  const rule = `|${widths.map((width, index) => (index === 0 ? '-'.repeat(width + 2) : `${'-'.repeat(width + 1)}:`)).join('|')}|`;
  return `\n${title}\n${[line(columns), rule, ...rows.map(line)].join('\n')}\n`;
}

function verdict(label: string, value: Spread | null | undefined, meets: (median: number) => boolean, goal: string): string {
  if (!value) return `${label}: not measured\n`;
  return `${label}: ${formatSpread(value)} (target ${goal}) ${meets(value.median) ? 'met' : 'NOT MET'}\n`;
}

function throughputTable(
  s: (key: string) => Spread | null,
  names: readonly TargetName[],
  rounds: readonly Round[],
  settings: Settings,
): string {
  const errors = (name: TargetName): number =>
    rounds.reduce((sum, r) => sum + (r.throughput64[name]?.errors ?? 0) + (r.throughput1[name]?.errors ?? 0), 0);
  return table(
    `Throughput, ${settings.duration} s per measurement`,
    ['target', 'req/s @64', 'CPU µs/req @64', 'req/s @1', 'CPU µs/req @1', 'errors'],
    names.map((name) => [
      name,
      formatSpread(s(`${name} req/s @64`)),
      formatSpread(s(`${name} CPU µs/request @64`)),
      formatSpread(s(`${name} req/s @1`)),
      formatSpread(s(`${name} CPU µs/request @1`)),
      String(errors(name)),
    ]),
  );
}

function rateTable(s: (key: string) => Spread | null, rounds: readonly Round[], settings: Settings): string {
  const rateErrors = rounds.reduce((sum, r) => sum + (r.rate.direct?.errors ?? 0) + (r.rate.ratewarden?.errors ?? 0), 0);
  return table(
    `Open loop, ${settings.rate} req/s for ${settings.rateSeconds} s (errors: ${rateErrors})`,
    ['target', 'p99 ms', 'slowest ms'],
    (['direct', 'ratewarden'] as const).map((name) => [
      name,
      formatSpread(s(`${name} rate p99 ms`)),
      formatSpread(s(`${name} rate max ms`)),
    ]),
  );
}

function sseTable(s: (key: string) => Spread | null, names: readonly TargetName[], rounds: readonly Round[], settings: Settings): string {
  const incomplete = rounds.reduce((sum, r) => sum + (r.sse['pass-through']?.incomplete ?? 0) + (r.sse.ratewarden?.incomplete ?? 0), 0);
  return table(
    `${settings.streams} concurrent SSE streams, ${settings.streamEvents} events ${settings.eventInterval} ms apart (incomplete streams: ${incomplete})`,
    ['target', 'CPU µs/event', 'peak RSS MiB'],
    names
      .filter((name) => name !== 'direct')
      .map((name) => [name, formatSpread(s(`${name} SSE CPU µs/event`)), formatSpread(s(`${name} SSE peak RSS MiB`))]),
  );
}

function verdicts(s: (key: string) => Spread | null, settings: Settings): string {
  let out = '\nTargets (issue 25)\n';
  out += verdict('ratewarden ÷ pass-through req/s @64', s('ratio req/s @64'), (m) => m >= 0.8, '≥ 0.8');
  out += verdict('ratewarden ÷ pass-through req/s @1', s('ratio req/s @1'), (m) => m >= 0.8, '≥ 0.8');
  out += verdict('added latency p50, ms', s('added p50 ms'), (m) => m <= 0.3, '≤ 0.3');
  out += verdict('added latency p99, ms', s('added p99 ms'), (m) => m <= 1, '≤ 1');
  out += verdict('ratewarden ÷ pass-through CPU/request @64', s('ratio CPU/request @64'), (m) => m <= 1.3, '≤ 1.3');
  out += verdict('ratewarden ÷ pass-through CPU/request @1', s('ratio CPU/request @1'), (m) => m <= 1.3, '≤ 1.3');
  out += verdict('SSE CPU per event, ratewarden ÷ pass-through', s('ratio SSE CPU/event'), (m) => m <= 1.3, '≤ 1.3');
  out += verdict(
    `ratewarden peak RSS during ${settings.streams} SSE streams, MiB`,
    s('ratewarden SSE peak RSS MiB'),
    (m) => m <= 150,
    '≤ 150',
  );
  out += `\nOpen loop at ${settings.rate} req/s (issue 15)\n`;
  out += verdict(`slowest request's added latency at ${settings.rate} req/s, ms`, s('rate slowest added ms'), (m) => m <= 5, '≤ 5');
  out += verdict(`admissions slower than 5 ms at ${settings.rate} req/s`, s('admissions > 5 ms'), (m) => m === 0, '0');
  out += verdict('slowest admission at most (histogram bound), ms', s('slowest admission ≤ ms'), (m) => m <= 5, '≤ 5');
  return out;
}

function againstBaseline(s: (key: string) => Spread | null, baseline: string): string {
  let out = `\nAgainst the baseline (${baseline})\n`;
  for (const key of [
    'baseline ratio req/s @64',
    'baseline ratio req/s @1',
    'baseline added p50 ms',
    'baseline added p99 ms',
    'ratewarden ÷ baseline CPU/request @64',
    'ratewarden ÷ baseline CPU/request @1',
  ])
    out += `${key}: ${formatSpread(s(key))}\n`;
  return out;
}

function report(summary: Summary, rounds: readonly Round[], settings: Settings): string {
  const s = (key: string): Spread | null => summary[key] ?? null;
  const names: TargetName[] = ['direct', 'pass-through', 'ratewarden', ...(settings.baseline === undefined ? [] : (['baseline'] as const))];
  const ran = (phase: string): boolean => settings.phases.has(phase);
  let out = `${settings.rounds} interleaved rounds; medians [min–max] over the rounds; upstream headers: ${settings.upstreamHeaders}\n`;
  if (ran('throughput')) out += throughputTable(s, names, rounds, settings);
  if (ran('latency')) {
    out += table(
      `One request at a time, ${settings.sequential} requests per round`,
      ['target', 'p50 ms', 'p99 ms'],
      names.map((name) => [name, formatSpread(s(`${name} p50 ms`)), formatSpread(s(`${name} p99 ms`))]),
    );
  }
  if (ran('rate')) out += rateTable(s, rounds, settings);
  if (ran('sse')) out += sseTable(s, names, rounds, settings);
  out += verdicts(s, settings);
  if (settings.baseline !== undefined) out += againstBaseline(s, settings.baseline);
  return out;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function main(settings: Settings): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), 'ratewarden-bench-'));
  const children: ChildProcess[] = [];
  try {
    const upstream = await startRole(
      'upstream',
      '--stream-events',
      String(settings.streamEvents),
      '--event-interval',
      String(settings.eventInterval),
      '--upstream-headers',
      settings.upstreamHeaders,
    );
    children.push(upstream.child);
    const passThrough = await startRole('pass-through', '--upstream', upstream.url);
    children.push(passThrough.child);
    const ratewarden = await startRatewarden(binary, upstream.url, join(folder, 'bench.db'), settings.profile);
    children.push(ratewarden.child);
    const targets: Parameters<typeof runRound>[1] = {
      direct: { name: 'direct', url: upstream.url, pid: upstream.child.pid as number },
      'pass-through': { name: 'pass-through', url: passThrough.url, pid: passThrough.child.pid as number },
      ratewarden: { name: 'ratewarden', url: ratewarden.url, pid: ratewarden.child.pid as number },
    };
    if (settings.baseline !== undefined) {
      const baseline = await startRatewarden(resolvePath(settings.baseline), upstream.url, join(folder, 'baseline.db'), undefined);
      children.push(baseline.child);
      targets.baseline = { name: 'baseline', url: baseline.url, pid: baseline.child.pid as number };
    }
    // Long enough for V8 to optimise each request path: the first seconds measure the compiler.
    for (const target of Object.values(targets)) {
      process.stderr.write(`warming up ${target.name} …\n`);
      await autocannon(loadOptions(target.url, 64, settings.warmup));
    }
    const rounds: Round[] = [];
    for (let index = 0; index < settings.rounds; index++) rounds.push(await runRound(index, targets, settings));
    const summary = summarise(rounds);
    process.stdout.write(
      settings.json
        ? `${JSON.stringify({ settings: { ...settings, phases: [...settings.phases] }, summary, rounds }, null, 2)}\n`
        : report(summary, rounds, settings),
    );
  } finally {
    await Promise.all(children.map(stop));
    rmSync(folder, { recursive: true, force: true });
  }
}

const phases = ['throughput', 'latency', 'rate', 'sse'];
const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    upstream: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '5' },
    sequential: { type: 'string', default: '2000' },
    rate: { type: 'string', default: '1500' },
    'rate-seconds': { type: 'string', default: '5' },
    streams: { type: 'string', default: '1000' },
    'stream-events': { type: 'string', default: '50' },
    'event-interval': { type: 'string', default: '100' },
    phases: { type: 'string', default: phases.join(',') },
    'upstream-headers': { type: 'string', default: 'anthropic' },
    profile: { type: 'string' },
    baseline: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

function upstreamHeadersOf(text: string): UpstreamHeaders {
  const chosen = upstreamHeaderChoices.find((choice) => choice === text);
  if (chosen === undefined) {
    process.stderr.write(`bench:proxy: --upstream-headers must be one of ${upstreamHeaderChoices.join(', ')}, got "${text}"\n`);
    process.exit(2);
  }
  return chosen;
}

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`bench:proxy: --${name} must be a number > 0, got "${text}"\n`);
    process.exit(2);
  }
  return value;
}

if (values.role === undefined) {
  const chosen = new Set(values.phases.split(',').map((phase) => phase.trim()));
  const unknown = [...chosen].filter((phase) => !phases.includes(phase));
  if (unknown.length > 0) {
    process.stderr.write(`bench:proxy: unknown phase ${unknown.join(', ')}; choose among ${phases.join(', ')}\n`);
    process.exit(2);
  }
  await main({
    rounds: positive('rounds', values.rounds),
    duration: positive('duration', values.duration),
    warmup: positive('warmup', values.warmup),
    sequential: positive('sequential', values.sequential),
    rate: positive('rate', values.rate),
    rateSeconds: positive('rate-seconds', values['rate-seconds']),
    streams: positive('streams', values.streams),
    streamEvents: positive('stream-events', values['stream-events']),
    eventInterval: positive('event-interval', values['event-interval']),
    phases: chosen,
    upstreamHeaders: upstreamHeadersOf(values['upstream-headers']),
    profile: values.profile,
    baseline: values.baseline,
    json: values.json,
  });
} else {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
  if (values.role === 'upstream')
    serveUpstream(Number(values['stream-events']), Number(values['event-interval']), upstreamHeadersOf(values['upstream-headers']));
  else servePassThrough(values.upstream as string);
}
