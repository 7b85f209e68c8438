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
import { LimiterStore } from '../../src/store/limiterStore.js';
import { Warden } from '../../src/warden/warden.js';
import { kill9Policy, reservation, totalWindowUsage, type Kill9Report } from './kill9Protocol.js';

const dbPath = process.argv[2];
if (dbPath === undefined) {
  process.stderr.write('usage: kill9Worker.ts DB\n');
  process.exit(2);
}
readFileSync(0);
run(dbPath);

function run(path: string): void {
  const warden = Warden.open({ dbPath: path, policy: kill9Policy, clock: () => Date.now() });
  const view = new LimiterStore(warden.db);
  const report = (line: Kill9Report): void => {
    const usage = totalWindowUsage(view, Date.now());
    process.stdout.write(`${JSON.stringify({ ...line, ...usage, cooldownUntil: warden.readState().cooldownUntil })}\n`);
  };
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const inFlight: number[] = [];
  report({ op: 'ready' });

  for (;;) {
    const meets429 = Math.random() < 0.005;
    const estimate = meets429 ? { inputTokens: 0, outputTokens: 0 } : reservation;
    const admission = warden.admit({ method: 'POST', path: '/v1/messages', estimate });
    if (admission.kind === 'rejected') {
      Atomics.wait(pause, 0, 0, Math.min(admission.retryAfterMs, 10));
      continue;
    }
    report({ op: 'admit', id: admission.requestId, probe: admission.probe, estimate: estimate.inputTokens + estimate.outputTokens });
    if (meets429) {
      warden.upstream429(admission.requestId, { retryAfterMs: Math.random() < 0.3 ? 1_000 : null });
      report({ op: '429', id: admission.requestId });
      continue;
    }
    // A probe settles at once so that the breaker closes; others may stay in flight a while.
    if (!admission.probe) inFlight.push(admission.requestId);
    const toSettle = admission.probe ? admission.requestId : inFlight.length > 4 || Math.random() < 0.5 ? inFlight.shift() : undefined;
    if (toSettle === undefined) continue;
    const spent = { inputTokens: reservation.inputTokens, outputTokens: reservation.outputTokens + Math.floor(Math.random() * 10) };
    warden.settle(toSettle, { outcome: 'ok', status: 200, usage: spent });
    report({ op: 'settle', id: toSettle, ...spent });
  }
}
