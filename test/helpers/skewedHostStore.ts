/**
 * A host whose clock is off, as a real process: its Date.now runs `skewMs` ahead (or behind) of
 * the machine's. It opens a PostgreSQL store the way production does (no clock option), records
 * one heartbeat at the transaction's `now`, and prints that time with its own clock's reading.
 *
 *   node --import tsx test/helpers/skewedHostStore.ts <url> <skewMs> <host>
 */
import { openPostgresStore } from '../../src/store/postgres/openStore.js';

const [url, skew, host] = process.argv.slice(2);
if (!url || !skew || !host) throw new Error('usage: skewedHostStore.ts <url> <skewMs> <host>');
const skewMs = Number(skew);
const trueNow = Date.now.bind(Date);
Date.now = () => trueNow() + skewMs;

const store = await openPostgresStore({ url, host, poolSize: 1 });
try {
  const now = await store.transact(async (tx) => {
    await tx.processes.beat({ role: 'worker', pid: process.pid, startedAt: tx.now, listen: null, upstream: null }, tx.now);
    return tx.now;
  });
  process.stdout.write(`${JSON.stringify({ now, hostNow: Date.now() })}\n`);
} finally {
  await store.close();
}
