/**
 * What group commit saves: admit + settle pairs with `concurrency` of them in flight at once
 * (as many connections, each sending its next request once the last was answered), through the
 * real warden and SQLite store: WAL bytes written per pair (the -wal file's growth, with no
 * checkpoint during the run), CPU and wall time per pair. One in flight is the lone-request
 * case, where nothing can be grouped. Not a test: it prints a table.
 *
 *   npm run bench:group
 *   BENCH_GROUP_CONCURRENCY=1,8,64 BENCH_GROUP_PAIRS=2000 npm run bench:group
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { defaultLimiterPolicy, type LimiterPolicy } from '../src/core/types.js';
import { openStore } from '../src/store/openStore.js';
import { Warden } from '../src/warden/warden.js';

const concurrencies = (process.env.BENCH_GROUP_CONCURRENCY ?? '1,64').split(',').map((value) => Number(value.trim()));
// Few enough that the WAL stays under the automatic checkpoint's backstop (10 000 pages) even ungrouped.
const pairs = Number(process.env.BENCH_GROUP_PAIRS ?? 1_280);
if (
  concurrencies.some((value) => !Number.isSafeInteger(value) || value <= 0) ||
  !Number.isSafeInteger(pairs) ||
  pairs <= 0 ||
  pairs > 1_280
) {
  process.stderr.write('bench:group: BENCH_GROUP_CONCURRENCY must be whole numbers > 0, BENCH_GROUP_PAIRS a whole number from 1 to 1280\n');
  process.exit(2);
}

const policy: LimiterPolicy = { ...defaultLimiterPolicy, tokenBudget: 1_000_000_000_000, requestBudget: 1_000_000_000 };
const clock = (): number => Date.now();
const request = { method: 'POST', path: '/v1/messages', estimate: { inputTokens: 1_200, outputTokens: 800 }, scope: 'default' };
const usage = { inputTokens: 1_150, outputTokens: 640 };

async function measure(concurrency: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ratewarden-group-'));
  const db = join(dir, 'bench.db');
  try {
    const warden = await Warden.open({ store: await openStore({ db, clock }), policy, clock, heldFile: null });
    const walBytes = (): number => statSync(`${db}-wal`).size;
    const perLoop = Math.ceil(pairs / concurrency);
    const walBefore = walBytes();
    const cpuBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = 0; i < perLoop; i++) {
          const admission = await warden.admit(request);
          if (admission.kind !== 'admitted') throw new Error(`bench request refused: ${admission.message}`);
          // The answer comes back in a later turn, as from the upstream.
          await nextTurn();
          await warden.settle(admission.requestId, { outcome: 'ok', status: 200, usage });
        }
      }),
    );
    const done = concurrency * perLoop;
    const cpu = process.cpuUsage(cpuBefore);
    const wallUs = Number(process.hrtime.bigint() - started) / 1_000 / done;
    const walKiB = (walBytes() - walBefore) / 1_024 / done;
    await warden.close();
    return `${String(concurrency).padStart(11)}  ${String(done).padStart(5)}  ${walKiB.toFixed(2).padStart(13)}  ${((cpu.user + cpu.system) / done).toFixed(1).padStart(12)}  ${wallUs.toFixed(1).padStart(13)}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

process.stdout.write(`admit+settle pairs in flight at once, Node ${process.version}, load average ${loadavg()[0]?.toFixed(2)}\n\n`);
process.stdout.write('in flight    pairs  WAL KiB/pair  CPU µs/pair  wall µs/pair\n');
for (const concurrency of concurrencies) process.stdout.write(`${await measure(concurrency)}\n`);
