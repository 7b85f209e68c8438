/**
 * A child process for the two-process test: opens a warden on a shared file, waits for "go" on
 * stdin, then admits until the budget refuses it `stopAfterRejections` times in a row, settling
 * every other request at its estimate. Prints one JSON line with what it saw.
 *
 * Usage: node --import tsx test/helpers/admitUntilFull.ts DB TOKEN_BUDGET|none REQUEST_BUDGET|none
 */
import { createInterface } from 'node:readline';
import { defaultLimiterPolicy } from '../../src/core/types.js';
import { StoreUnavailableError } from '../../src/warden/errors.js';
import { Warden } from '../../src/warden/warden.js';

const [dbPath, tokenBudgetArg, requestBudgetArg] = process.argv.slice(2);
if (dbPath === undefined || tokenBudgetArg === undefined || requestBudgetArg === undefined) {
  process.stderr.write('usage: admitUntilFull.ts DB TOKEN_BUDGET|none REQUEST_BUDGET|none\n');
  process.exit(2);
}
const budget = (arg: string): number | null => (arg === 'none' ? null : Number(arg));
const stopAfterRejections = 200;
const estimate = { inputTokens: 10, outputTokens: 40 };

const warden = Warden.open({
  dbPath,
  clock: () => Date.now(),
  policy: { ...defaultLimiterPolicy, windowMs: 600_000, tokenBudget: budget(tokenBudgetArg), requestBudget: budget(requestBudgetArg) },
});
process.stdout.write('ready\n');

const lines = createInterface({ input: process.stdin });
lines.once('line', () => {
  lines.close();
  let admitted = 0;
  let rejected = 0;
  let unavailable = 0;
  let rejectedInARow = 0;
  while (rejectedInARow < stopAfterRejections) {
    try {
      const admission = warden.admit({ method: 'POST', path: '/v1/messages', estimate });
      if (admission.kind === 'admitted') {
        admitted += 1;
        rejectedInARow = 0;
        if (admitted % 2 === 0) warden.settle(admission.requestId, { outcome: 'ok', status: 200, usage: estimate });
      } else {
        rejected += 1;
        rejectedInARow += 1;
      }
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      unavailable += 1;
    }
  }
  warden.close();
  process.stdout.write(`${JSON.stringify({ pid: process.pid, admitted, rejected, unavailable })}\n`);
});
