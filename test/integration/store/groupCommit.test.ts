import BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { initialLimiterState } from '../../../src/core/types.js';
import type { Store, StoreTransaction } from '../../../src/store/port.js';
import { openSqliteStore } from '../../../src/store/sqlite/openStore.js';
import { FakeClock, stateWith } from '../../helpers/limiterFixtures.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';

const dirs = new ScratchDirs();
const scope = 'default';
const opened: { close(): unknown }[] = [];

afterEach(async () => {
  for (const handle of opened.splice(0).reverse()) await handle.close();
  dirs.removeAll();
});

/** A store on a fresh file, and a second connection to the file: what another process sees. */
async function storeAndWitness(): Promise<{ store: Store; witness: BetterSqlite3.Database }> {
  const path = join(dirs.make('ratewarden-group-'), 'ratewarden.db');
  const store = await openSqliteStore({ path, clock: new FakeClock().read });
  opened.push(store);
  await store.transact((tx) => tx.limiter.createState(scope, initialLimiterState, 1_000));
  const witness = new BetterSqlite3(path, { readonly: true });
  opened.push(witness);
  return { store, witness };
}

/** What the witness sees committed of the scope. */
function committed(witness: BetterSqlite3.Database): { consecutive429s: number; requests: number } {
  const state = witness
    .prepare<[], { consecutive_429s: number }>("SELECT consecutive_429s FROM limiter_state WHERE scope = 'default'")
    .get();
  const buckets = witness
    .prepare<[], { requests: number | null }>("SELECT SUM(requests) AS requests FROM usage_buckets WHERE scope = 'default'")
    .get();
  return { consecutive429s: state?.consecutive_429s ?? -1, requests: buckets?.requests ?? 0 };
}

/** One event: the scope's streak and its window both grow by one. */
async function event(tx: StoreTransaction): Promise<number> {
  const state = (await tx.limiter.readState(scope))!;
  await tx.limiter.addToBucket(scope, 1_000, 1, 1, 1);
  await tx.limiter.writeState(scope, { ...state, consecutive429s: state.consecutive429s + 1 }, tx.now);
  return state.consecutive429s + 1;
}

describe('group commit on SQLite (issue 15)', () => {
  it('commits the transactions asked together in one COMMIT, in the order asked, each resolving only once that COMMIT returned', async () => {
    const { store, witness } = await storeAndWitness();
    const seenInLast: { consecutive429s: number; requests: number }[] = [];
    const seenAtResolve: { consecutive429s: number; requests: number }[] = [];
    // Asked in one turn: the first starts at once, the others join its group while it runs.
    const results = await Promise.all(
      [
        store.transact(event),
        store.transact(event),
        store.transact(async (tx) => {
          const value = await event(tx);
          seenInLast.push(committed(witness));
          return value;
        }),
      ].map((done) => done.then((value) => (seenAtResolve.push(committed(witness)), value))),
    );
    expect(results).toEqual([1, 2, 3]);
    // While the last ran, nothing of the first two was committed yet: the three share one transaction.
    expect(seenInLast).toEqual([{ consecutive429s: 0, requests: 0 }]);
    // Each caller is told only after the COMMIT: by then the witness sees all three.
    expect(seenAtResolve).toEqual([0, 1, 2].map(() => ({ consecutive429s: 3, requests: 3 })));
  });

  it('under load a group stays open for the turn: the requests of the same turn join it', async () => {
    const { store, witness } = await storeAndWitness();
    // Three callbacks of one check phase, like three connections' requests in one turn.
    const asked = await new Promise<Promise<number>[]>((resolve) => {
      const all: Promise<number>[] = [];
      setImmediate(() => all.push(store.transact(event)));
      setImmediate(() => all.push(store.transact(event)));
      setImmediate(() =>
        all.push(
          store.transact(async (tx) => {
            const value = await event(tx);
            // The second turn's group (this one and the one before) has not committed; the first has.
            expect(committed(witness)).toEqual({ consecutive429s: 1, requests: 1 });
            return value;
          }),
        ),
      );
      setImmediate(() => resolve(all));
    });
    expect(await Promise.all(asked)).toEqual([1, 2, 3]);
    expect(committed(witness)).toEqual({ consecutive429s: 3, requests: 3 });
  });

  it('a member that fails rolls back alone and rejects alone; the others commit', async () => {
    const { store, witness } = await storeAndWitness();
    const failure = new Error('this event failed halfway');
    const failing = async (tx: StoreTransaction): Promise<number> => {
      await event(tx);
      throw failure;
    };
    // Failing first (no savepoint of its own: the transaction is its own), in the middle, and last.
    const outcomes = await Promise.allSettled([failing, event, failing, event, failing].map((work) => store.transact(work)));
    expect(outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : outcome.reason))).toEqual([
      failure,
      1,
      failure,
      2,
      failure,
    ]);
    expect(committed(witness)).toEqual({ consecutive429s: 2, requests: 2 });
    // Nothing of the failed members is served from memory either.
    expect(
      await store.transact(async (tx) => ({
        state: (await tx.limiter.readState(scope))?.consecutive429s,
        totals: (await tx.limiter.bucketTotalsFrom(scope, 0)).requests,
      })),
    ).toEqual({ state: 2, totals: 2 });
  });

  it("never serves from memory what another connection's COMMIT changed since (data_version)", async () => {
    const { store } = await storeAndWitness();
    const path = store.location;
    const readAll = (): Promise<{
      streak: number | undefined;
      requests: number;
      remaining: number | undefined;
      outcome: string | undefined;
    }> =>
      store.transact(async (tx) => ({
        streak: (await tx.limiter.readState(scope))?.consecutive429s,
        requests: (await tx.limiter.bucketTotalsFrom(scope, 0)).requests,
        remaining: (await tx.reported.reports(scope))[0]?.remaining,
        outcome: (await tx.limiter.findRequest(requestId))?.outcome,
      }));
    const requestId = await store.transact(async (tx) => {
      await event(tx);
      await tx.reported.writeReport(scope, {
        dimension: 'tokens',
        limit: 1_000,
        remaining: 900,
        resetAt: 60_000,
        seenAt: 1_000,
        admittedSince: 0,
        roundingSlack: 0,
        refill: 'bucket',
      });
      return tx.limiter.insertAdmitted({
        scope,
        admittedAt: 1_000,
        bucketStart: 1_000,
        method: 'POST',
        path: '/v1/messages',
        probe: false,
        estInputTokens: 1,
        estOutputTokens: 1,
        chargeOutputTokens: 1,
        workerPid: 1,
      });
    });
    expect(await readAll()).toEqual({ streak: 1, requests: 1, remaining: 900, outcome: 'in-flight' });
    // Another process writes straight to the file, past everything this store keeps.
    const writer = new BetterSqlite3(path);
    opened.push(writer);
    writer.exec(`
      UPDATE limiter_state SET consecutive_429s = 7 WHERE scope = 'default';
      UPDATE usage_buckets SET requests = requests + 10 WHERE scope = 'default';
      UPDATE reported_remaining SET remaining = 5 WHERE scope = 'default';
      UPDATE requests SET outcome = 'aborted' WHERE id = ${requestId};
    `);
    expect(await readAll()).toEqual({ streak: 7, requests: 11, remaining: 5, outcome: 'aborted' });
  });

  it('a read asked while a group is open runs after it, and a write asked after the read runs after the read', async () => {
    const { store } = await storeAndWitness();
    const order: string[] = [];
    const first = store.transact(async (tx) => {
      order.push('write 1');
      return event(tx);
    });
    const read = store.read(async (tx) => {
      order.push('read');
      return (await tx.limiter.readState(scope))?.consecutive429s;
    });
    const second = store.transact(async (tx) => {
      order.push('write 2');
      return event(tx);
    });
    expect(await Promise.all([first, read, second])).toEqual([1, 1, 2]);
    expect(order).toEqual(['write 1', 'read', 'write 2']);
    expect(await store.read(async (tx) => tx.limiter.readState(scope))).toEqual(stateWith({ consecutive429s: 2 }));
  });
});
