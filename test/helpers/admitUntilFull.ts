/**
 * A child process for the two-process test: opens a warden on a shared file and follows a
 * handshake on stdin/stdout, so that both processes are admitting at once by construction:
 *
 *   child: "ready"            (the warden is open)
 *   parent: "go"              (sent to both once both are ready)
 *   child: admits ONE request, then "admitted-one"
 *   parent: "race"            (sent to both once both have admitted one)
 *   child: admits until the budget refuses it `stopAfterRejections` times in a row, settling
 *          every other request at its estimate, then prints one JSON line with what it saw.
 *
 * Neither can use up the budget before the other has admitted: each holds at "admitted-one"
 * until the other got there too.
 *
 * Usage: node --import tsx test/helpers/admitUntilFull.ts DB TOKEN_BUDGET|none REQUEST_BUDGET|none
 */
import { createInterface } from 'node:readline';
import { defaultLimiterPolicy } from '../../src/core/types.js';
import { StoreUnavailableError } from '../../src/store/unavailable.js';
import { openSqliteWarden } from './sqliteWarden.js';

const [dbPath, tokenBudgetArg, requestBudgetArg] = process.argv.slice(2);
if (dbPath === undefined || tokenBudgetArg === undefined || requestBudgetArg === undefined) {
  process.stderr.write('usage: admitUntilFull.ts DB TOKEN_BUDGET|none REQUEST_BUDGET|none\n');
  process.exit(2);
}
const budget = (arg: string): number | null => (arg === 'none' ? null : Number(arg));
const stopAfterRejections = 200;
const estimate = { inputTokens: 10, outputTokens: 40 };

const warden = await openSqliteWarden(dbPath, {
  clock: () => Date.now(),
  policy: { ...defaultLimiterPolicy, windowMs: 600_000, tokenBudget: budget(tokenBudgetArg), requestBudget: budget(requestBudgetArg) },
});
process.stdout.write('ready\n');

const lines = createInterface({ input: process.stdin });
// The iterator buffers lines, so none is lost between two awaits.
const input = lines[Symbol.asyncIterator]();
const nextLine = async (): Promise<void> => {
  await input.next();
};

async function admitOnce(): Promise<'admitted' | 'rejected' | 'unavailable'> {
  try {
    const admission = await warden.admit({ method: 'POST', path: '/v1/messages', estimate });
    if (admission.kind !== 'admitted') return 'rejected';
    admitted += 1;
    if (admitted % 2 === 0) await warden.settle(admission.requestId, { outcome: 'ok', status: 200, usage: estimate });
    return 'admitted';
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    return 'unavailable';
  }
}

let admitted = 0;
let rejected = 0;
let unavailable = 0;

await nextLine();
// The first admission: the budget is far from full, so anything but "admitted" is a failure to report.
const first = await admitOnce();
if (first !== 'admitted') {
  process.stderr.write(`the first admission was ${first}\n`);
  process.exit(1);
}
process.stdout.write('admitted-one\n');

await nextLine();
lines.close();
let rejectedInARow = 0;
while (rejectedInARow < stopAfterRejections) {
  const outcome = await admitOnce();
  if (outcome === 'admitted') rejectedInARow = 0;
  else if (outcome === 'rejected') {
    rejected += 1;
    rejectedInARow += 1;
  } else unavailable += 1;
}
await warden.close();
process.stdout.write(`${JSON.stringify({ pid: process.pid, admitted, rejected, unavailable })}\n`);
