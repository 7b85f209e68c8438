/**
 * The child of the kill -9 test: admits, settles and meets upstream 429s on a warden as fast as
 * it can, and prints one JSON line per committed mutation — after the commit — with the window
 * usage and the cooldown as they stand then. It runs until it is killed.
 *
 * The workload keeps window usage monotonic (a settle spends at least its reservation; only
 * zero-estimate requests meet a 429), so the parent may demand that usage never drops.
 *
 * It starts working when its stdin closes, so the parent can start the next child ahead of time
 * and pay the start-up cost while the current one runs.
 *
 * Usage: node --import tsx test/helpers/kill9Worker.ts DB
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { heldFilePathFor } from '../../src/store/held429File.js';
import { openStore } from '../../src/store/openStore.js';
import { Warden } from '../../src/warden/warden.js';
import { kill9Policy, kill9WindowStart, reservation, totalWindowUsage, type Kill9Report } from './kill9Protocol.js';

const dbPath = process.argv[2];
if (dbPath === undefined) {
  process.stderr.write('usage: kill9Worker.ts DB\n');
  process.exit(2);
}
readFileSync(0);
await run(dbPath);

async function run(path: string): Promise<void> {
  const clock = (): number => Date.now();
  const store = await openStore({ db: path, clock });
  const warden = await Warden.open({ store, policy: kill9Policy, clock, heldFile: heldFilePathFor(path) });
  const report = async (line: Kill9Report): Promise<void> => {
    const { totals, state } = await store.read(async (tx) => ({
      totals: await tx.limiter.bucketTotalsFrom('default', kill9WindowStart(tx.now)),
      state: await tx.limiter.readState('default'),
    }));
    const usage = totalWindowUsage(totals);
    process.stdout.write(`${JSON.stringify({ ...line, ...usage, cooldownUntil: state?.cooldownUntil ?? null })}\n`);
  };
  const inFlight: number[] = [];
  await report({ op: 'ready' });

  for (;;) {
    const meets429 = Math.random() < 0.005;
    const estimate = meets429 ? { inputTokens: 0, outputTokens: 0 } : reservation;
    const admission = await warden.admit({ method: 'POST', path: '/v1/messages', estimate });
    if (admission.kind === 'rejected') {
      await sleep(Math.min(admission.retryAfterMs, 10));
      continue;
    }
    await report({ op: 'admit', id: admission.requestId, probe: admission.probe, estimate: estimate.inputTokens + estimate.outputTokens });
    if (meets429) {
      await warden.upstream429(admission.requestId, { retryAfterMs: Math.random() < 0.3 ? 1_000 : null });
      await report({ op: '429', id: admission.requestId });
      continue;
    }
    // A probe settles at once so that the breaker closes; others may stay in flight a while.
    if (!admission.probe) inFlight.push(admission.requestId);
    const toSettle = admission.probe ? admission.requestId : inFlight.length > 4 || Math.random() < 0.5 ? inFlight.shift() : undefined;
    if (toSettle === undefined) continue;
    const spent = { inputTokens: reservation.inputTokens, outputTokens: reservation.outputTokens + Math.floor(Math.random() * 10) };
    await warden.settle(toSettle, { outcome: 'ok', status: 200, usage: spent });
    await report({ op: 'settle', id: toSettle, ...spent });
  }
}
