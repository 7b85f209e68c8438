/**
 * Restarts the clients don't see (issue 12): `ratewarden run` with the real worker, clients that
 * keep sending (each request on a connection of its own, so that every one meets the listening
 * socket), and, again and again, a SIGKILL of the worker. For each kill: the time from the kill to
 * the next request the upstream receives (forwarded by the new worker), and what every request
 * got. Targets (issue 20): SIGKILL → next forwarded request median ≤ 0.5 s at the default restart
 * settings; no connection refused and no request lost — each one sent after the kill is either
 * forwarded or answered 503 `restarting` with a Retry-After; only a request the dying worker
 * already held may be cut (it was in flight).
 *
 * Every kill comes after a stable run (`--stable-after 300ms`, and each worker serves 500 ms before
 * its kill): the case of a worker that dies in service, not a crash loop. Everything else is at
 * its default unless given (`--restart-sec`).
 *
 * `--compare <bin/ratewarden of another build>` measures both builds in interleaved rounds
 * (this, other, other, this, …), each round a fresh supervisor with `--runs` kills.
 *
 * Usage: npm run bench:restart [-- --runs 10 --clients 4 --rounds 2 --restart-sec 10s --compare /tmp/base/bin/ratewarden]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { send, type Outcome } from '../test/helpers/httpProbe.js';

const thisBinary = fileURLToPath(new URL('../bin/ratewarden', import.meta.url));
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    clients: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '1' },
    'restart-sec': { type: 'string' },
    compare: { type: 'string' },
  },
});
const runs = Number(values.runs);
const clients = Number(values.clients);
const rounds = Number(values.rounds);
const restartSec = values['restart-sec'];

interface Sent {
  outcome: Outcome;
}

function summary(samples: readonly number[]): { median: number; max: number; min: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  const median =
    sorted.length % 2 === 1 ? (sorted[Math.floor(middle)] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { median, max: sorted.at(-1) as number, min: sorted[0] as number };
}

interface ReadyEvent {
  /** Counts the workers that became ready, in order. */
  id: number;
  at: number;
  workerPid: number;
  url: string;
}

/**
 * The supervisor's "worker N ready at URL" lines, with the time each carries: what every build
 * prints, whatever its schema, so that `--compare` measures another build the same way.
 */
class ReadyLines {
  readonly seen: ReadyEvent[] = [];
  private rest = '';

  feed(chunk: Buffer): void {
    const lines = (this.rest + chunk.toString()).split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) {
      const match = /^(\S+) info supervisor: worker (\d+) ready at (\S+)/.exec(line);
      if (match !== null)
        this.seen.push({
          id: this.seen.length + 1,
          at: Date.parse(match[1] as string),
          workerPid: Number(match[2]),
          url: match[3] as string,
        });
    }
  }
}

async function readyAfter(lines: ReadyLines, newerThan: number, gone: () => string | null): Promise<ReadyEvent> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = lines.seen.at(-1) ?? null;
    if (ready !== null && ready.id > newerThan) return ready;
    const why = gone();
    if (why !== null) throw new Error(why);
    if (Date.now() > deadline) throw new Error('no worker became ready within 60 s');
    await sleep(5);
  }
}

interface Measured {
  toNextForward: number[];
  outcomes: Outcome[];
  kills: number[];
}

async function measure(binary: string): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'ratewarden-bench-restart-'));
  const dbPath = join(dir, 'ratewarden.db');
  const arrivals: number[] = [];
  const upstream = createServer((request, response) => {
    arrivals.push(Date.now());
    request.resume();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{}');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  // The burst limit far away and every worker stable at once: this loop of kills is on purpose.
  const supervisor = spawn(
    process.execPath,
    [
      binary,
      'run',
      '--db',
      dbPath,
      '--upstream',
      upstreamUrl,
      '--listen',
      '127.0.0.1:0',
      ...(restartSec === undefined ? [] : ['--restart-sec', restartSec]),
      '--stable-after',
      '300ms',
      '--start-limit-burst',
      String(runs * 10),
      '--start-limit-interval',
      '1h',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'config') } },
  );
  let supervisorExit: string | null = null;
  supervisor.once('exit', (code, signal) => {
    supervisorExit = `the supervisor exited (${signal ?? `code ${code}`})`;
  });
  const lines = new ReadyLines();
  supervisor.stdout?.on('data', (chunk: Buffer) => lines.feed(chunk));

  const toNextForward: number[] = [];
  const sent: Sent[] = [];
  const kills: number[] = [];
  let sending = true;
  try {
    let ready = await readyAfter(lines, 0, () => supervisorExit);
    const url = ready.url;
    const loops = Array.from({ length: clients }, async () => {
      while (sending) sent.push({ outcome: await send(url, '/v1/messages', 'POST', '{"max_tokens":1}') });
    });
    for (let run = 0; run < runs; run++) {
      // Let the worker serve a while, as a worker that dies in service would have (and be stable).
      await sleep(500);
      const killedAt = Date.now();
      kills.push(killedAt);
      process.kill(ready.workerPid, 'SIGKILL');
      ready = await readyAfter(lines, ready.id, () => supervisorExit);
      const deadline = Date.now() + 10_000;
      while (arrivals.at(-1) === undefined || (arrivals.at(-1) as number) < ready.at) {
        if (Date.now() > deadline) throw new Error('nothing was forwarded after the restart');
        await sleep(2);
      }
      const next = arrivals.find((at) => at > killedAt && at >= ready.at);
      toNextForward.push((next as number) - killedAt);
    }
    sending = false;
    await Promise.all(loops);
  } finally {
    sending = false;
    if (supervisorExit === null) {
      supervisor.kill('SIGTERM');
      await new Promise((resolve) => supervisor.once('exit', resolve));
    }
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }

  return { toNextForward, outcomes: sent.map((entry) => entry.outcome), kills };
}

function report(label: string, measured: readonly Measured[]): void {
  const toNextForward = measured.flatMap((m) => m.toNextForward);
  const outcomes = measured.flatMap((m) => m.outcomes);
  const kills = measured.flatMap((m) => m.kills);
  const forwarded = outcomes.filter((o) => o.kind === 'answer' && o.status === 200).length;
  const restarting = outcomes.filter(
    (o) => o.kind === 'answer' && o.status === 503 && o.reason === 'restarting' && o.retryAfter !== null,
  ).length;
  const errors = outcomes.filter((o): o is Extract<Outcome, { kind: 'error' }> => o.kind === 'error');
  const refused = errors.filter((o) => o.code === 'ECONNREFUSED').length;
  // A request the dying worker already had: sent before a kill, failed after it.
  const inFlight = errors.filter((o) => kills.some((at) => o.sentAt <= at && o.receivedAt >= at));
  const lost = errors.length - inFlight.length;
  const other = outcomes.length - forwarded - restarting - errors.length;
  const { median, max, min } = summary(toNextForward);
  process.stdout.write(
    `${label}: restart, worker SIGKILL → next forwarded request (${restartSec === undefined ? 'default restart settings' : `--restart-sec ${restartSec}`}, real worker, ` +
      `${measured.length} rounds × ${runs} kills, ${clients} clients sending without pause):\n` +
      `  median ${median.toFixed(0)} ms, max ${max.toFixed(0)} ms, min ${min.toFixed(0)} ms\n` +
      `  each kill (ms): ${toNextForward.map((ms) => ms.toFixed(0)).join(' ')}\n` +
      `  requests: ${outcomes.length}; forwarded ${forwarded}; 503 restarting with Retry-After ${restarting}; ` +
      `cut in flight by the kill ${inFlight.length}; refused ${refused}; lost ${lost}; other answers ${other}\n` +
      `  target: 0 refused, 0 lost — ${refused === 0 && lost === 0 && other === 0 ? 'MET' : 'MISSED'}; median ≤ 500 ms — ${median <= 500 ? 'MET' : 'MISSED'}\n` +
      (errors.length > 0 ? `  failure codes: ${[...new Set(errors.map((o) => o.code))].join(', ')}\n` : ''),
  );
}

async function main(): Promise<void> {
  const builds = [
    { label: 'this build', binary: thisBinary },
    ...(values.compare === undefined ? [] : [{ label: `other build (${values.compare})`, binary: values.compare }]),
  ];
  const results = new Map<string, Measured[]>(builds.map((build) => [build.label, []]));
  for (let round = 0; round < rounds; round++) {
    // Interleaved, the order flipping each round: neither build always runs on a warmer machine.
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    for (const build of order) results.get(build.label)?.push(await measure(build.binary));
  }
  for (const build of builds) report(build.label, results.get(build.label) ?? []);
}

await main();
