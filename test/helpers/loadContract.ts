import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ReportedRemaining } from '../../src/core/reported.js';
import { initialLimiterState } from '../../src/core/types.js';
import type { AdmittedRequest, Store, StoreTransaction } from '../../src/store/port.js';
import { admitted as storeAdmitted, report as storeReport, type ContractStore } from './storeContract.js';
import { stateWith } from './limiterFixtures.js';

const group = 'org:acme/claude-sonnet';
const keyScope = 'k0123456789abcdef/claude-sonnet';

const admitted = (overrides: Partial<AdmittedRequest> = {}): AdmittedRequest => storeAdmitted({ scope: group, ...overrides });
const report = (overrides: Partial<ReportedRemaining> = {}): ReportedRemaining =>
  storeReport({ dimension: 'input-tokens', limit: 40_000, remaining: 30_000, roundingSlack: 0, ...overrides });

/**
 * The load step of the storage port (store/snapshot.ts), on every backend: what each event reads
 * before it decides, in one read, and what the events that load, decide and apply leave.
 */
export function describeLoadContract(name: string, makeStore: () => Promise<ContractStore>): void {
  describe(`the storage port's load step: ${name}`, () => {
    let opened: ContractStore;
    let store: Store;
    const transact = <T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> => store.transact(work);

    beforeEach(async () => {
      opened = await makeStore();
      store = opened.store;
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    it("reads a scope in one load: nothing for a scope never seen; then its state, window totals, reports, daily totals and a key's layer", async () => {
      const empty = await transact((tx) => tx.load.scope(group, { windowFrom: 0, dayFrom: 0, keyScope }));
      expect(empty).toEqual({
        main: {
          scope: group,
          state: null,
          totals: { start: 0, inputTokens: 0, outputTokens: 0, requests: 0 },
          reports: [],
          day: { start: 0, inputTokens: 0, outputTokens: 0, requests: 0 },
        },
        key: { scope: keyScope, state: null, reports: [] },
      });
      await transact(async (tx) => {
        await tx.limiter.createState(group, stateWith({ consecutive429s: 2 }), 1_000);
        await tx.limiter.createState(keyScope, stateWith({ cooldownUntil: 9_000 }), 1_000);
        await tx.limiter.addToBucket(group, 1_000, 10, 20, 1);
        await tx.limiter.addToBucket(group, 2_000, 1, 2, 1);
        await tx.limiter.addToDaily(group, 0, 7, 8, 2);
        await tx.reported.writeReport(group, report());
        await tx.reported.writeReport(group, report({ dimension: 'output-tokens', limit: null, remaining: 8_000 }));
        await tx.reported.writeReport(keyScope, report({ remaining: 5 }));
      });
      const loaded = await transact((tx) => tx.load.scope(group, { windowFrom: 1_500, dayFrom: 0, keyScope }));
      expect(loaded.main).toEqual({
        scope: group,
        state: stateWith({ consecutive429s: 2 }),
        totals: { start: 2_000, inputTokens: 1, outputTokens: 2, requests: 1 },
        reports: [report(), report({ dimension: 'output-tokens', limit: null, remaining: 8_000 })],
        day: { start: 0, inputTokens: 7, outputTokens: 8, requests: 2 },
      });
      expect(loaded.key).toEqual({ scope: keyScope, state: stateWith({ cooldownUntil: 9_000 }), reports: [report({ remaining: 5 })] });
      // The scope itself named as the key is no key layer; no daily budget, no daily totals.
      expect(await transact((tx) => tx.load.scope(group, { windowFrom: 1_500, keyScope: group }))).toMatchObject({
        main: { day: null },
        key: null,
      });
    });

    it('gives an admitting load the id its INSERT then takes, one per admission', async () => {
      const ids = await transact(async (tx) => {
        await tx.load.scope(group, { windowFrom: 0, admitting: true });
        const first = await tx.limiter.insertAdmitted(admitted());
        return [first, await tx.limiter.insertAdmitted(admitted({ admittedAt: 1_001 }))];
      });
      expect(new Set(ids).size).toBe(2);
      const found = await transact(async (tx) => Promise.all(ids.map((id) => tx.limiter.findRequest(id))));
      expect(found.map((request) => request?.admittedAt)).toEqual([1_000, 1_001]);
    });

    it('reads a request with its scope, the reports, the key and the model when asked; nothing for a request never admitted', async () => {
      await transact(async (tx) => {
        await tx.limiter.createState(group, stateWith({ backoffLevel: 1 }), 1_000);
        await tx.reported.writeReport(group, report());
      });
      const id = await transact(async (tx) => {
        const requestId = await tx.limiter.insertAdmitted(admitted({ chargeOutputTokens: 4_000 }));
        await tx.reported.setRequestModel(requestId, 'claude-sonnet-4-5');
        return requestId;
      });
      const loaded = await transact((tx) => tx.load.request(id, { keyScope, model: true }));
      expect(loaded).toEqual({
        request: {
          id,
          admittedAt: 1_000,
          bucketStart: 1_000,
          probe: false,
          estInputTokens: 100,
          estOutputTokens: 50,
          chargeOutputTokens: 4_000,
          outcome: 'in-flight',
          scope: group,
        },
        main: { scope: group, state: stateWith({ backoffLevel: 1 }), reports: [report()] },
        key: { scope: keyScope, state: null, reports: [] },
        model: 'claude-sonnet-4-5',
      });
      expect(await transact((tx) => tx.load.request(id, { keyScope: group }))).toMatchObject({ key: null, model: null });
      expect(await transact((tx) => tx.load.request(id + 1_000, {}))).toBeNull();
    });

    it('loses no update when many events load, decide and apply at once on one scope: each reads what every one before it left', async () => {
      await transact((tx) => tx.limiter.createState(group, initialLimiterState, 1_000));
      const count = 20;
      const seen = await Promise.all(
        Array.from({ length: count }, () =>
          transact(async (tx) => {
            const { main } = await tx.load.scope(group, { windowFrom: 0 });
            await tx.limiter.addToBucket(group, 1_000, 1, 0, 1);
            await tx.limiter.writeState(group, { ...main.state!, consecutive429s: main.state!.consecutive429s + 1 }, tx.now);
            return [main.totals.requests, main.state!.consecutive429s];
          }),
        ),
      );
      // Every event saw the totals and the state of the same events before it, and no two saw the same.
      expect(seen.map(([requests]) => requests).sort((a, b) => a! - b!)).toEqual(Array.from({ length: count }, (_, index) => index));
      expect(seen.every(([requests, consecutive]) => requests === consecutive)).toBe(true);
    });

    it('fails a transaction whose write fails, however late it is found, and keeps nothing of it', async () => {
      await transact((tx) => tx.limiter.createState(group, initialLimiterState, 1_000));
      const id = await transact((tx) => tx.limiter.insertAdmitted(admitted()));
      await expect(
        transact(async (tx) => {
          const { main } = await tx.load.scope(group, { windowFrom: 0 });
          await tx.limiter.writeState(group, { ...main.state!, backoffLevel: 3 }, tx.now);
          // Refused by the table's CHECK: an outcome no request may have.
          await tx.limiter.markSettled(id, 2_000, 'lost' as 'ok', 200, 1, 1);
          await tx.limiter.addToBucket(group, 1_000, 5, 5, 1);
        }),
      ).rejects.toThrow(/check constraint/i);
      expect(await transact((tx) => tx.load.scope(group, { windowFrom: 0 }))).toMatchObject({
        main: { state: initialLimiterState, totals: { requests: 0 } },
      });
    });
  });
}
