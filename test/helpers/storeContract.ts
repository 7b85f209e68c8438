import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BudgetAdjustment } from '../../src/core/controller.js';
import type { ReportedRemaining } from '../../src/core/reported.js';
import type { RateLimitEventRow } from '../../src/core/statusReport.js';
import { foldRestartLedger } from '../../src/core/restartLedger.js';
import { initialLimiterState } from '../../src/core/types.js';
import type { AdmittedRequest, Store, StoreTransaction, SupervisorEventKind } from '../../src/store/port.js';
import { type FakeClock, stateWith } from './limiterFixtures.js';

export interface ContractStore {
  store: Store;
  /** The clock the store's transactions take `now` from. */
  clock: FakeClock;
  /** Another store on the same data, as a second process opens it; the contract closes it before cleanup. */
  openOther(): Promise<Store>;
  /** Closes the store and removes what it made (its file, its database). */
  cleanup(): Promise<void>;
}

const scope = 'k0123456789abcdef/claude-sonnet';
const otherScope = 'k0123456789abcdef/claude-haiku';
const otherKeyScope = 'kfedcba9876543210/claude-sonnet';

/** An admitted request of the contract's scope, as the tests vary it. */
export const admitted = (overrides: Partial<AdmittedRequest> = {}): AdmittedRequest => ({
  scope,
  admittedAt: 1_000,
  bucketStart: 1_000,
  method: 'POST',
  path: '/v1/messages',
  probe: false,
  estInputTokens: 100,
  estOutputTokens: 50,
  chargeOutputTokens: 50,
  workerPid: 4242,
  ...overrides,
});

/** A report as the tests vary it. */
export const report = (overrides: Partial<ReportedRemaining> = {}): ReportedRemaining => ({
  dimension: 'tokens',
  limit: 10_000,
  remaining: 8_000,
  resetAt: 60_000,
  seenAt: 1_000,
  admittedSince: 0,
  roundingSlack: 500,
  refill: 'bucket',
  ...overrides,
});

const rateLimitEvent = (overrides: Partial<RateLimitEventRow> = {}): RateLimitEventRow => ({
  at: 2_000,
  requestId: null,
  retryAfterMs: 1_500,
  consecutive429s: 1,
  backoffLevel: 1,
  escalated: true,
  cooldownMs: 2_000,
  cooldownUntil: 4_000,
  windowTokens: 900,
  windowRequests: 3,
  ...overrides,
});

const cut = (overrides: Partial<BudgetAdjustment> = {}): BudgetAdjustment => ({
  kind: 'tokens',
  from: 1_000,
  to: 500,
  reason: 'cut',
  gates: null,
  detail: 'an upstream 429',
  ...overrides,
});

/** A promise and the function that resolves it: the handshake between two transactions. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/**
 * The storage port's contract, which every backend meets, checked through the Store interface
 * only. `makeStore` opens a fresh, empty store (a new file, a new database) for each test.
 */
export function describeStoreContract(name: string, makeStore: () => Promise<ContractStore>): void {
  describe(`the storage port contract: ${name}`, () => {
    let opened: ContractStore;
    let store: Store;
    let clock: FakeClock;
    let others: Store[] = [];
    const openOther = async (): Promise<Store> => {
      const other = await opened.openOther();
      others.push(other);
      return other;
    };
    const transact = <T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> => store.transact(work);

    beforeEach(async () => {
      opened = await makeStore();
      store = opened.store;
      clock = opened.clock;
    });
    afterEach(async () => {
      for (const other of others) await other.close();
      others = [];
      await opened.cleanup();
    });

    describe('limiter state', () => {
      it('is null for a scope never seen, then reads back what was created and written', async () => {
        expect(await transact((tx) => tx.limiter.readState(scope))).toBeNull();
        const created = stateWith({ tokenBudget: 9_000, configuredTokenBudget: 9_000, firstRequestAt: 1_000 });
        await transact((tx) => tx.limiter.createState(scope, created, 1_000));
        expect(await transact((tx) => tx.limiter.readState(scope))).toEqual(created);

        const written = stateWith({
          ...created,
          consecutive429s: 2,
          backoffLevel: 1,
          cooldownStartedAt: 2_000,
          cooldownUntil: 4_000,
          lastProbeSuccessAt: 3_000,
        });
        await transact((tx) => tx.limiter.writeState(scope, written, 2_000));
        expect(await transact((tx) => tx.limiter.readState(scope))).toEqual(written);
        expect(await transact((tx) => tx.limiter.readState(otherScope))).toBeNull();
      });

      it('keeps the scope default of a fresh store, and a fingerprint secret that stays the same', async () => {
        expect(await transact((tx) => tx.limiter.readState('default'))).toEqual(initialLimiterState);
        const secret = await transact((tx) => tx.limiter.fingerprintSecret());
        expect(secret).toMatch(/^[0-9a-f]{64}$/);
        expect(await transact((tx) => tx.limiter.fingerprintSecret())).toBe(secret);
      });

      it('finds the scopes of one key, and the active scopes', async () => {
        await transact(async (tx) => {
          await tx.limiter.createState(scope, initialLimiterState, 1_000);
          await tx.limiter.createState(otherScope, stateWith({ cooldownUntil: 9_000 }), 1_000);
          await tx.limiter.createState(otherKeyScope, initialLimiterState, 1_000);
          await tx.limiter.addToBucket(scope, 5_000, 1, 1, 1);
        });
        expect((await transact((tx) => tx.limiter.scopesOfKey('k0123456789abcdef'))).sort()).toEqual([otherScope, scope].sort());
        expect((await transact((tx) => tx.limiter.activeScopes(5_000, 2_000))).sort()).toEqual([otherScope, scope].sort());
        // "No bound" is ±Infinity, as the warden's startup passes it: every scope changed at any time.
        expect((await transact((tx) => tx.limiter.activeScopes(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY))).sort()).toEqual(
          ['default', otherKeyScope, otherScope, scope].sort(),
        );
      });

      it('adds refusal counts to the scope, seen in its status', async () => {
        await transact((tx) => tx.limiter.createState(scope, initialLimiterState, 1_000));
        await transact((tx) => tx.limiter.addRefusalCounts(scope, 2, 3, 1_500));
        await transact((tx) => tx.limiter.addRefusalCounts(scope, 1, 0, 1_600));
        const snapshot = await store.read((tx) => tx.status.snapshot({ bucketsFrom: 0, adjustments: 5, rateLimitEvents: 5 }, scope));
        expect(snapshot.refusals).toEqual({ cooldown: 3, budget: 3 });
      });
    });

    describe('usage buckets and totals', () => {
      it('add up per bucket and per scope, and sum from a start', async () => {
        await transact(async (tx) => {
          await tx.limiter.addToBucket(scope, 1_000, 10, 20, 1);
          await tx.limiter.addToBucket(scope, 1_000, 5, 5, 1);
          await tx.limiter.addToBucket(scope, 2_000, 1, 2, 1);
          await tx.limiter.addToBucket(otherScope, 2_000, 100, 100, 1);
        });
        expect(await transact((tx) => tx.limiter.bucketsFrom(scope, 0))).toEqual([
          { start: 1_000, inputTokens: 15, outputTokens: 25, requests: 2 },
          { start: 2_000, inputTokens: 1, outputTokens: 2, requests: 1 },
        ]);
        expect(await transact((tx) => tx.limiter.bucketTotalsFrom(scope, 0))).toEqual({
          start: 1_000,
          inputTokens: 16,
          outputTokens: 27,
          requests: 3,
        });
        expect(await transact((tx) => tx.limiter.bucketTotalsFrom(scope, 1_500))).toEqual({
          start: 2_000,
          inputTokens: 1,
          outputTokens: 2,
          requests: 1,
        });
        expect(await transact((tx) => tx.limiter.bucketTotalsFrom(scope, 3_000))).toEqual({
          start: 3_000,
          inputTokens: 0,
          outputTokens: 0,
          requests: 0,
        });
        // From an older start again, then buckets added before, between and after the ones there.
        expect(await transact((tx) => tx.limiter.bucketTotalsFrom(scope, 0))).toEqual({
          start: 1_000,
          inputTokens: 16,
          outputTokens: 27,
          requests: 3,
        });
        await transact(async (tx) => {
          await tx.limiter.addToBucket(scope, 500, 1, 0, 0);
          await tx.limiter.addToBucket(scope, 1_500, 2, 0, 0);
          await tx.limiter.addToBucket(scope, 2_500, 0, 3, 1);
        });
        expect(await transact((tx) => tx.limiter.bucketTotalsFrom(scope, 0))).toEqual({
          start: 500,
          inputTokens: 19,
          outputTokens: 30,
          requests: 4,
        });
        expect(await transact((tx) => tx.limiter.bucketTotalsFrom(scope, 1_200))).toEqual({
          start: 1_500,
          inputTokens: 3,
          outputTokens: 5,
          requests: 2,
        });
        await transact((tx) => tx.limiter.addToBucket(scope, 1_000, 50, 50, 5));
        expect(await transact((tx) => tx.limiter.bucketTotalsFrom(scope, 1_200))).toEqual({
          start: 1_500,
          inputTokens: 3,
          outputTokens: 5,
          requests: 2,
        });
        expect(await transact((tx) => tx.limiter.bucketTotalsFrom(scope, 0))).toEqual({
          start: 500,
          inputTokens: 69,
          outputTokens: 80,
          requests: 9,
        });
      });

      it('keep daily totals per hour and scope', async () => {
        await transact(async (tx) => {
          await tx.limiter.addToDaily(scope, 3_600_000, 10, 20, 1);
          await tx.limiter.addToDaily(scope, 3_600_000, 1, 1, 1);
          await tx.limiter.addToDaily(scope, 7_200_000, 2, 2, 1);
          await tx.limiter.addToDaily(otherScope, 7_200_000, 50, 50, 1);
        });
        expect(await transact((tx) => tx.limiter.dailyTotalsFrom(scope, 0))).toEqual({
          start: 3_600_000,
          inputTokens: 13,
          outputTokens: 23,
          requests: 3,
        });
        expect(await transact((tx) => tx.limiter.dailyTotalsFrom(scope, 7_200_000))).toEqual({
          start: 7_200_000,
          inputTokens: 2,
          outputTokens: 2,
          requests: 1,
        });
        expect(await transact((tx) => tx.limiter.dailyTotalsFrom(scope, 9_000_000))).toEqual({
          start: 9_000_000,
          inputTokens: 0,
          outputTokens: 0,
          requests: 0,
        });
      });

      it('prune old requests, buckets and daily rows', async () => {
        await transact(async (tx) => {
          await tx.limiter.insertAdmitted(admitted({ admittedAt: 1_000 }));
          await tx.limiter.insertAdmitted(admitted({ admittedAt: 5_000 }));
          await tx.limiter.addToBucket(scope, 1_000, 1, 1, 1);
          await tx.limiter.addToBucket(scope, 5_000, 1, 1, 1);
          await tx.limiter.addToDaily(scope, 0, 1, 1, 1);
          await tx.limiter.addToDaily(scope, 3_600_000, 1, 1, 1);
        });
        expect(await transact((tx) => tx.limiter.pruneBefore(2_000, 2_000, 3_600_000))).toEqual({ requests: 1, buckets: 1 });
        expect(await transact((tx) => tx.limiter.bucketsFrom(scope, 0))).toEqual([
          { start: 5_000, inputTokens: 1, outputTokens: 1, requests: 1 },
        ]);
        expect(await transact((tx) => tx.limiter.dailyTotalsFrom(scope, 0))).toEqual({
          start: 3_600_000,
          inputTokens: 1,
          outputTokens: 1,
          requests: 1,
        });
      });
    });

    describe('limit groups', () => {
      const group = 'org:c0ffee/claude-sonnet';
      it("keep each key's learned organization by fingerprint, replaced when it changes", async () => {
        expect(await transact((tx) => tx.groups.organizations())).toEqual([]);
        const learned = {
          fingerprint: 'k0123456789abcdef',
          provider: 'openai' as const,
          organization: 'org-abc',
          project: 'proj_1',
          learnedAt: 1_000,
          keyHint: 'wxyz',
        };
        await transact((tx) => tx.groups.learn(learned));
        await transact((tx) =>
          tx.groups.learn({ ...learned, fingerprint: 'kfedcba9876543210', provider: 'anthropic', organization: 'c0ffee', project: null }),
        );
        expect(await transact((tx) => tx.groups.organizationOf('k0123456789abcdef'))).toEqual(learned);
        // Learned again without the hint: the hint stays.
        await transact((tx) => tx.groups.learn({ ...learned, project: 'proj_2', learnedAt: 2_000, keyHint: null }));
        expect(await transact((tx) => tx.groups.organizations())).toEqual([
          { ...learned, project: 'proj_2', learnedAt: 2_000 },
          {
            fingerprint: 'kfedcba9876543210',
            provider: 'anthropic',
            organization: 'c0ffee',
            project: null,
            learnedAt: 1_000,
            keyHint: 'wxyz',
          },
        ]);
        expect(await transact((tx) => tx.groups.organizationOf('k0000000000000000'))).toBeNull();
      });

      it("move a key scope's usage into its group: buckets and daily rows add up, in-flight requests settle there, nothing counted twice", async () => {
        const inFlight = await transact(async (tx) => {
          await tx.limiter.addToBucket(scope, 1_000, 10, 20, 1);
          await tx.limiter.addToBucket(scope, 2_000, 1, 2, 1);
          await tx.limiter.addToBucket(group, 2_000, 100, 200, 3);
          await tx.limiter.addToDaily(scope, 3_600_000, 11, 22, 2);
          await tx.limiter.addToBucket(otherScope, 2_000, 7, 7, 1);
          return tx.limiter.insertAdmitted(admitted({ scope }));
        });
        // Read once before the move, as the request path does (SQLite keeps what it read in memory).
        expect(await transact((tx) => tx.limiter.bucketTotalsFrom(scope, 0))).toMatchObject({
          inputTokens: 11,
          outputTokens: 22,
          requests: 2,
        });
        await transact((tx) => tx.groups.moveUsage(scope, group));
        expect(await transact((tx) => tx.limiter.bucketsFrom(group, 0))).toEqual([
          { start: 1_000, inputTokens: 10, outputTokens: 20, requests: 1 },
          { start: 2_000, inputTokens: 101, outputTokens: 202, requests: 4 },
        ]);
        expect(await transact((tx) => tx.limiter.bucketTotalsFrom(scope, 0))).toMatchObject({
          inputTokens: 0,
          outputTokens: 0,
          requests: 0,
        });
        expect(await transact((tx) => tx.limiter.dailyTotalsFrom(group, 0))).toMatchObject({
          inputTokens: 11,
          outputTokens: 22,
          requests: 2,
        });
        expect(await transact((tx) => tx.limiter.dailyTotalsFrom(scope, 0))).toMatchObject({
          inputTokens: 0,
          outputTokens: 0,
          requests: 0,
        });
        expect((await transact((tx) => tx.limiter.findRequest(inFlight)))?.scope).toBe(group);
        expect(await transact((tx) => tx.reported.inFlightSince(group, 0))).toEqual({ inputTokens: 100, outputTokens: 50, requests: 1 });
        expect(await transact((tx) => tx.limiter.bucketTotalsFrom(otherScope, 0))).toMatchObject({ inputTokens: 7, requests: 1 });
      });
    });

    describe('admitted requests', () => {
      it('are inserted in flight, found, and settled', async () => {
        const first = await transact((tx) => tx.limiter.insertAdmitted(admitted({ probe: true })));
        const second = await transact((tx) => tx.limiter.insertAdmitted(admitted({ admittedAt: 1_100 })));
        expect(second).toBeGreaterThan(first);
        expect(await transact((tx) => tx.limiter.findRequest(first))).toEqual({
          id: first,
          admittedAt: 1_000,
          bucketStart: 1_000,
          probe: true,
          estInputTokens: 100,
          estOutputTokens: 50,
          chargeOutputTokens: 50,
          outcome: 'in-flight',
          scope,
        });
        expect(await transact((tx) => tx.reported.inFlightSince(scope, 0))).toEqual({ inputTokens: 200, outputTokens: 100, requests: 2 });

        await transact((tx) => tx.limiter.markSettled(first, 1_500, 'ok', 200, 90, 40));
        expect((await transact((tx) => tx.limiter.findRequest(first)))?.outcome).toBe('ok');
        expect(await transact((tx) => tx.reported.inFlightSince(scope, 0))).toEqual({ inputTokens: 100, outputTokens: 50, requests: 1 });
        expect(await transact((tx) => tx.reported.inFlightSince(scope, 1_200))).toEqual({ inputTokens: 0, outputTokens: 0, requests: 0 });
        expect(await transact((tx) => tx.limiter.findRequest(second + 1_000))).toBeNull();
      });

      it('keep the output charged against the reported limits apart from the window estimate, and sum in flight without what a report already counts', async () => {
        const first = await transact((tx) => tx.limiter.insertAdmitted(admitted({ estOutputTokens: 300, chargeOutputTokens: 32_000 })));
        const second = await transact((tx) =>
          tx.limiter.insertAdmitted(admitted({ admittedAt: 1_100, estOutputTokens: 200, chargeOutputTokens: 8_000 })),
        );
        expect(await transact((tx) => tx.limiter.findRequest(first))).toMatchObject({ estOutputTokens: 300, chargeOutputTokens: 32_000 });
        expect(await transact((tx) => tx.reported.inFlightSince(scope, 0))).toEqual({
          inputTokens: 200,
          outputTokens: 40_000,
          requests: 2,
        });
        // The request whose head carried the report is in it.
        expect(await transact((tx) => tx.reported.inFlightSince(scope, 0, { id: first, admittedAt: 1_000 }))).toEqual({
          inputTokens: 100,
          outputTokens: 8_000,
          requests: 1,
        });
        // So is one whose head came before the carrier was sent; one whose head came after may not be.
        await transact((tx) => tx.limiter.markHead(first, 1_050));
        expect(await transact((tx) => tx.reported.inFlightSince(scope, 0, { id: second, admittedAt: 1_100 }))).toEqual({
          inputTokens: 0,
          outputTokens: 0,
          requests: 0,
        });
        expect(await transact((tx) => tx.reported.inFlightSince(scope, 0, { id: second, admittedAt: 1_040 }))).toEqual({
          inputTokens: 100,
          outputTokens: 32_000,
          requests: 1,
        });
        // The first head's time stands.
        await transact((tx) => tx.limiter.markHead(first, 2_000));
        expect(await transact((tx) => tx.reported.inFlightSince(scope, 0, { id: second, admittedAt: 1_100 }))).toEqual({
          inputTokens: 0,
          outputTokens: 0,
          requests: 0,
        });
      });

      it('keep the model a request named', async () => {
        const id = await transact((tx) => tx.limiter.insertAdmitted(admitted()));
        expect(await transact((tx) => tx.reported.requestModel(id))).toBeNull();
        await transact((tx) => tx.reported.setRequestModel(id, 'claude-sonnet-4-5'));
        expect(await transact((tx) => tx.reported.requestModel(id))).toBe('claude-sonnet-4-5');
      });
    });

    describe('reports', () => {
      it('are replaced per scope and dimension, and count what was admitted since', async () => {
        await transact(async (tx) => {
          await tx.reported.writeReport(scope, report());
          await tx.reported.writeReport(scope, report({ dimension: 'requests', limit: 50, remaining: 40, roundingSlack: 0 }));
          await tx.reported.writeReport(otherScope, report({ remaining: 1 }));
        });
        await transact((tx) => tx.reported.addAdmitted(scope, 100, 50, 1));
        await transact((tx) => tx.reported.correctAdmitted(scope, -30, -500));
        const reports = await transact((tx) => tx.reported.reports(scope));
        const byDimension = new Map(reports.map((entry) => [entry.dimension, entry]));
        // A refund larger than what was admitted since leaves the count below zero: the upstream gave it back.
        expect(byDimension.get('tokens')).toEqual(report({ admittedSince: 150 - 530 }));
        expect(byDimension.get('requests')).toEqual(
          report({ dimension: 'requests', limit: 50, remaining: 40, roundingSlack: 0, admittedSince: 1 }),
        );

        await transact((tx) =>
          tx.reported.writeReport(scope, report({ remaining: 7_000, seenAt: 2_000, admittedSince: 5, refill: 'window' })),
        );
        const replaced = (await transact((tx) => tx.reported.reports(scope))).find((entry) => entry.dimension === 'tokens');
        expect(replaced).toEqual(report({ remaining: 7_000, seenAt: 2_000, admittedSince: 5, refill: 'window' }));
        expect(await transact((tx) => tx.reported.reports(otherKeyScope))).toEqual([]);
      });

      it('keep the latest output samples of each model, newest first, and prune old ones', async () => {
        await transact(async (tx) => {
          await tx.reported.recordOutputSample(1_000, 'claude-sonnet-4-5', 10);
          await tx.reported.recordOutputSample(2_000, 'claude-sonnet-4-5', 20);
          await tx.reported.recordOutputSample(3_000, 'gpt-4o', 30);
        });
        expect(await transact((tx) => tx.reported.outputSamples())).toEqual(
          new Map([
            ['claude-sonnet-4-5', [20, 10]],
            ['gpt-4o', [30]],
          ]),
        );
        expect(await transact((tx) => tx.reported.pruneSamplesBefore(2_500))).toBe(2);
        expect(await transact((tx) => tx.reported.outputSamples())).toEqual(new Map([['gpt-4o', [30]]]));
      });
    });

    describe('supervisor events', () => {
      it('are recorded in order and read back by kind, failures and recency', async () => {
        const started = await transact((tx) =>
          tx.supervisor.record({ at: 1_000, kind: 'worker-started', supervisorPid: 10, workerPid: 11 }),
        );
        const failed = await transact((tx) =>
          tx.supervisor.record({
            at: 2_000,
            kind: 'worker-failed',
            supervisorPid: 10,
            workerPid: 11,
            exitCode: 1,
            cause: 'exit-code',
            delayMs: 500,
            detail: 'exited 1',
          }),
        );
        await transact((tx) =>
          tx.supervisor.record({ at: 3_000, kind: 'worker-failed', supervisorPid: 10, workerPid: 12, signal: 'SIGKILL', cause: 'signal' }),
        );
        expect(failed).toBeGreaterThan(started);

        expect(await transact((tx) => tx.supervisor.lastIdOf(['worker-started']))).toBe(started);
        expect(await transact((tx) => tx.supervisor.lastIdOf(['cleared']))).toBe(0);
        expect((await transact((tx) => tx.supervisor.restartEvents(null, 0)))[0]).toEqual({
          id: started,
          at: 1_000,
          kind: 'worker-started',
          supervisorPid: 10,
          supervisor: null,
          workerPid: 11,
          exitCode: null,
          signal: null,
          cause: null,
          delayMs: null,
          detail: null,
        });
        const kindsAt = (events: readonly { kind: string; at: number }[]): string[] => events.map((event) => `${event.kind}@${event.at}`);
        expect(kindsAt(await transact((tx) => tx.supervisor.restartEvents(null, 0)))).toEqual([
          'worker-started@1000',
          'worker-failed@2000',
          'worker-failed@3000',
        ]);
        const recent = await transact((tx) => tx.supervisor.recent(2));
        expect(recent.map((event) => event.at)).toEqual([3_000, 2_000]);
        expect(recent[1]).toMatchObject({ exitCode: 1, cause: 'exit-code', delayMs: 500, detail: 'exited 1' });
      });

      it("keep each supervisor's history apart: its own rows, those that name none, from its last stable run or clear, its last exit and the interval", async () => {
        const own = { supervisorPid: 10, supervisor: '127.0.0.1:8787' };
        const other = { supervisorPid: 20, supervisor: '127.0.0.1:8788' };
        await transact((tx) => tx.supervisor.record({ at: 1_000, kind: 'worker-failed', supervisorPid: 5, cause: 'signal' }));
        await transact((tx) => tx.supervisor.record({ at: 2_000, kind: 'worker-failed', ...own, cause: 'signal' }));
        await transact((tx) => tx.supervisor.record({ at: 2_500, kind: 'worker-failed', ...other, cause: 'signal' }));
        await transact((tx) => tx.supervisor.record({ at: 3_000, kind: 'worker-stable', ...own }));
        await transact((tx) => tx.supervisor.record({ at: 4_000, kind: 'worker-failed', ...own, cause: 'signal' }));
        await transact((tx) => tx.supervisor.record({ at: 4_500, kind: 'gave-up', ...other, cause: 'signal' }));
        const kindsAt = (events: readonly { kind: string; at: number }[]): string[] => events.map((event) => `${event.kind}@${event.at}`);
        const eventsOf = (name: string, since: number) => transact((tx) => tx.supervisor.restartEvents(name, since));
        // Older than `since` and before the last stable run: left out.
        expect(kindsAt(await eventsOf('127.0.0.1:8787', 1_500))).toEqual([
          'worker-failed@2000',
          'worker-stable@3000',
          'worker-failed@4000',
        ]);
        expect(kindsAt(await eventsOf('127.0.0.1:8787', 5_000))).toEqual(['worker-stable@3000', 'worker-failed@4000']);
        expect(kindsAt(await eventsOf('127.0.0.1:8788', 0))).toEqual(['worker-failed@1000', 'worker-failed@2500', 'gave-up@4500']);
        // What core folds from them: each supervisor's own give-up and last exit.
        const interval = { startLimitIntervalMs: 10_000 };
        expect(foldRestartLedger(await eventsOf('127.0.0.1:8787', 0), 5_000, interval)).toMatchObject({
          gaveUp: false,
          lastExit: { at: 4_000, supervisor: '127.0.0.1:8787' },
        });
        expect(foldRestartLedger(await eventsOf('127.0.0.1:8788', 0), 5_000, interval)).toMatchObject({
          gaveUp: true,
          lastExit: { at: 2_500, supervisorPid: 20 },
        });
        // An operator's clear is everyone's: read with the last exit before it, and it wipes the history.
        await transact((tx) => tx.supervisor.record({ at: 5_000, kind: 'cleared', supervisorPid: 30 }));
        expect(kindsAt(await eventsOf('127.0.0.1:8787', 4_800))).toEqual(['worker-failed@4000', 'cleared@5000']);
        expect(kindsAt(await eventsOf('127.0.0.1:8788', 4_800))).toEqual(['worker-failed@2500', 'gave-up@4500', 'cleared@5000']);
        for (const name of ['127.0.0.1:8787', '127.0.0.1:8788']) {
          expect(foldRestartLedger(await eventsOf(name, 0), 5_000, interval)).toMatchObject({
            history: { failureTimes: [], consecutiveFailures: 0, pendingFailureAt: null },
            gaveUp: false,
          });
        }
      });

      it('read, bounded, all a fold needs: it gives what the whole ledger gives, after every event', async () => {
        const names = ['127.0.0.1:8787', '127.0.0.1:8788'];
        const script: [number, SupervisorEventKind, string | null][] = [
          [0, 'worker-failed', null],
          [1_000, 'worker-started', names[0] ?? null],
          [2_000, 'worker-failed', names[0] ?? null],
          [2_000, 'worker-started', names[1] ?? null],
          [3_000, 'worker-ready', names[0] ?? null],
          [63_000, 'worker-stable', names[0] ?? null],
          [70_000, 'worker-failed', names[1] ?? null],
          [80_000, 'worker-failed', names[1] ?? null],
          [80_000, 'gave-up', names[1] ?? null],
          [90_000, 'supervisor-started', names[1] ?? null],
          [400_000, 'worker-exited', names[0] ?? null],
          [500_000, 'cleared', null],
          [510_000, 'worker-started', names[1] ?? null],
          [520_000, 'worker-failed', names[1] ?? null],
          [900_000, 'worker-failed', names[0] ?? null],
        ];
        const interval = { startLimitIntervalMs: 300_000 };
        for (const [at, kind, supervisor] of script) {
          await transact((tx) => tx.supervisor.record({ at, kind, supervisorPid: 1, supervisor }));
          const ledger = (await transact((tx) => tx.supervisor.recent(100))).reverse();
          for (const name of names) {
            const whole = ledger.filter((event) => event.kind === 'cleared' || event.supervisor === name || event.supervisor === null);
            for (const now of [at, at + 299_999, at + 300_000]) {
              const read = await transact((tx) => tx.supervisor.restartEvents(name, now - interval.startLimitIntervalMs));
              expect(foldRestartLedger(read, now, interval), `${name} at ${now}`).toEqual(foldRestartLedger(whole, now, interval));
            }
          }
        }
      });
    });

    describe('heartbeats and policies', () => {
      it('record, refresh and forget a process, and the policy it started with', async () => {
        const worker = { role: 'worker' as const, pid: 501, startedAt: 1_000, listen: '127.0.0.1:8080', upstream: 'https://api.example' };
        await transact((tx) => tx.processes.beat(worker, 1_000));
        await transact((tx) => tx.processes.beat({ role: 'supervisor', pid: 500, startedAt: 900, listen: null, upstream: null }, 1_100));
        await transact((tx) => tx.processes.beat(worker, 2_000));
        const beats = await transact((tx) => tx.processes.heartbeats());
        expect(beats.map(({ host: _host, ...row }) => row).sort((a, b) => a.pid - b.pid)).toEqual([
          { role: 'supervisor', pid: 500, startedAt: 900, heartbeatAt: 1_100, listen: null, upstream: null, queue: null },
          {
            role: 'worker',
            pid: 501,
            startedAt: 1_000,
            heartbeatAt: 2_000,
            listen: '127.0.0.1:8080',
            upstream: 'https://api.example',
            queue: null,
          },
        ]);
        // A worker's queue goes with its heartbeat, and is read back as written.
        const queue = { length: 3, oldestWaitMs: 1_500, scopes: [{ scope: 'k/claude-haiku', length: 3, oldestWaitMs: 1_500 }] };
        await transact((tx) => tx.processes.beat(worker, 2_100, queue));
        expect((await transact((tx) => tx.processes.heartbeats())).find((row) => row.pid === 501)?.queue).toEqual(queue);

        await transact((tx) => tx.processes.recordPolicy('worker', 501, 1_000, { windowMs: 60_000, tokenBudget: 9_000 }));
        await transact((tx) => tx.processes.recordPolicy('supervisor', 500, 1_100, { restartSecMs: 100 }));
        expect(await transact((tx) => tx.processes.policies())).toEqual([
          { role: 'supervisor', pid: 500, writtenAt: 1_100, policy: { restartSecMs: 100 } },
          { role: 'worker', pid: 501, writtenAt: 1_000, policy: { windowMs: 60_000, tokenBudget: 9_000 } },
        ]);

        // The worker stops cleanly; the next one that starts drops the stopped one's policy.
        await transact((tx) => tx.processes.forget('worker', 501));
        expect((await transact((tx) => tx.processes.heartbeats())).map((row) => row.pid)).toEqual([500]);
        expect((await transact((tx) => tx.processes.policies())).map((row) => row.pid)).toEqual([500, 501]);
        await transact((tx) => tx.processes.recordPolicy('worker', 502, 3_000, { windowMs: 30_000 }));
        expect((await transact((tx) => tx.processes.policies())).map((row) => row.pid)).toEqual([502, 500]);
      });
    });

    describe('the status snapshot', () => {
      it('has every part, each newest first where it is a history', async () => {
        await transact(async (tx) => {
          await tx.limiter.createState(scope, stateWith({ tokenBudget: 500, reportedTokenLimit: 10_000 }), 1_000);
          await tx.limiter.addToBucket(scope, 1_000, 10, 20, 1);
          await tx.limiter.recordAdjustment(scope, 1_000, cut());
          await tx.limiter.recordAdjustment(scope, 1_100, cut({ kind: 'requests', from: null, to: 40, reason: 'config' }));
          await tx.limiter.recordAdjustment(
            scope,
            1_200,
            cut({
              from: 500,
              to: 600,
              reason: 'raise',
              gates: { history: { open: true, why: 'enough' } } as unknown as BudgetAdjustment['gates'],
            }),
          );
          await tx.limiter.recordRateLimitEvent(scope, rateLimitEvent());
          await tx.limiter.recordRateLimitEvent(scope, rateLimitEvent({ at: 2_500, escalated: false, consecutive429s: 2 }));
          for (const tokens of [300, 100, 200]) {
            await tx.limiter.recordSample(scope, {
              at: 2_000,
              kind: 'upstream-429',
              tokens,
              requests: 1,
              windowMs: 60_000,
              retryAfterMs: 1_000,
              limitTokens: null,
              limitRequests: null,
            });
          }
          await tx.limiter.recordSample(scope, {
            at: 3_000,
            kind: 'window',
            tokens: 50,
            requests: 1,
            windowMs: 60_000,
            retryAfterMs: null,
            limitTokens: null,
            limitRequests: null,
          });
          await tx.limiter.recordAudit(4_000, 'reset-cooldown', 'me@here (pid 1)', 'testing', { scope });
          await tx.processes.beat({ role: 'worker', pid: 77, startedAt: 1_000, listen: null, upstream: null }, 1_000);
        });
        const snapshot = await store.read((tx) => tx.status.snapshot({ bucketsFrom: 0, adjustments: 2, rateLimitEvents: 5 }, scope));
        expect(snapshot.state).toEqual(stateWith({ tokenBudget: 500, reportedTokenLimit: 10_000 }));
        expect(snapshot.buckets).toEqual([{ start: 1_000, inputTokens: 10, outputTokens: 20, requests: 1 }]);
        expect(snapshot.refusals).toEqual({ cooldown: 0, budget: 0 });
        expect(snapshot.processes.map((row) => row.pid)).toEqual([77]);
        expect(snapshot.adjustments.map((row) => row.reason)).toEqual(['raise', 'config']);
        expect(snapshot.adjustments[0]?.gates).toEqual({ history: { open: true, why: 'enough' } });
        expect(snapshot.lastAdjustmentByKind.tokens).toMatchObject({ at: 1_200, from: 500, to: 600, reason: 'raise' });
        expect(snapshot.lastAdjustmentByKind.requests).toEqual({
          at: 1_100,
          kind: 'requests',
          from: null,
          to: 40,
          reason: 'config',
          gates: null,
          detail: 'an upstream 429',
        });
        expect([...snapshot.sampleCounts].sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([
          { kind: 'upstream-429', count: 3, zeroTokens: 0 },
          { kind: 'window', count: 1, zeroTokens: 0 },
        ]);
        expect(snapshot.sampleSummaries.find((row) => row.kind === 'upstream-429')).toEqual({
          kind: 'upstream-429',
          count: 3,
          medianTokens: 200,
          maxTokens: 300,
          minTokens: 100,
        });
        expect(snapshot.rateLimitEvents).toEqual([rateLimitEvent({ at: 2_500, escalated: false, consecutive429s: 2 }), rateLimitEvent()]);
        expect(snapshot.lastOperatorAction).toEqual({ at: 4_000, action: 'reset-cooldown', actor: 'me@here (pid 1)', reason: 'testing' });

        const calibration = await store.read((tx) => tx.status.calibration(scope));
        expect(calibration.reported).toEqual({ tokens: 10_000, requests: null });
        expect(calibration.sampleSummaries).toEqual(snapshot.sampleSummaries);
        expect((await store.read((tx) => tx.status.calibratedScopes())).sort()).toEqual([scope, 'default'].sort());
        expect(await store.read((tx) => tx.status.hasScope(scope))).toBe(true);
        expect(await store.read((tx) => tx.status.hasScope(otherScope))).toBe(false);

        const summaries = await store.read((tx) => tx.status.scopeSummaries(0, 0));
        expect(summaries.map((row) => row.scope).sort()).toEqual(['default', scope].sort());
        expect(summaries.find((row) => row.scope === scope)).toMatchObject({
          tokenBudget: 500,
          inputTokens: 10,
          outputTokens: 20,
          requests: 1,
          refusedBudget: 0,
          updatedAt: 1_000,
        });
      });

      it("reads the live page's history of every scope: changes and 429s since a time, oldest first and bounded; the largest reservations in flight; the reports", async () => {
        await transact(async (tx) => {
          await tx.limiter.recordAdjustment(scope, 500, cut({ from: 2_000, to: 1_000 }));
          await tx.limiter.recordAdjustment(scope, 1_000, cut());
          await tx.limiter.recordAdjustment(otherScope, 1_100, cut({ from: 500, to: 600, reason: 'recover' }));
          await tx.limiter.recordAdjustment(scope, 1_200, cut({ kind: 'requests', from: 50, to: 35 }));
          await tx.limiter.recordRateLimitEvent(scope, rateLimitEvent({ at: 400 }));
          await tx.limiter.recordRateLimitEvent(scope, rateLimitEvent({ at: 2_000 }));
          await tx.limiter.recordRateLimitEvent(otherKeyScope, rateLimitEvent({ at: 2_500, backoffLevel: 2, retryAfterMs: null }));
          await tx.reported.writeReport(scope, report());
          await tx.reported.writeReport(scope, report({ dimension: 'requests', limit: 50, remaining: 40 }));
          await tx.limiter.insertAdmitted(admitted({ estInputTokens: 10, estOutputTokens: 10 }));
          await tx.limiter.insertAdmitted(
            admitted({ scope: otherScope, admittedAt: 1_500, estInputTokens: 5_000, estOutputTokens: 30_000, probe: true }),
          );
          const settled = await tx.limiter.insertAdmitted(admitted({ estInputTokens: 90_000, estOutputTokens: 90_000 }));
          await tx.limiter.markSettled(settled, 2_000, 'ok', 200, 10, 10);
        });
        const history = await store.read((tx) => tx.status.history({ since: 1_000, adjustments: 2, upstream429s: 10, reservations: 1 }));
        // The newest two of the changes since 1 000, oldest first.
        expect(history.adjustments).toEqual([
          { scope: otherScope, at: 1_100, kind: 'tokens', from: 500, to: 600, reason: 'recover' },
          { scope, at: 1_200, kind: 'requests', from: 50, to: 35, reason: 'cut' },
        ]);
        expect(history.upstream429s).toEqual([
          { scope, at: 2_000, backoffLevel: 1, cooldownMs: 2_000, retryAfterMs: 1_500 },
          { scope: otherKeyScope, at: 2_500, backoffLevel: 2, cooldownMs: 2_000, retryAfterMs: null },
        ]);
        expect(history.reservations).toEqual([
          { scope: otherScope, admittedAt: 1_500, inputTokens: 5_000, outputTokens: 30_000, probe: true },
        ]);
        expect(history.reservationsInFlight).toBe(2);
        expect(history.reported).toEqual([
          { scope, dimension: 'requests', limit: 50, remaining: 40, resetAt: 60_000, seenAt: 1_000 },
          { scope, dimension: 'tokens', limit: 10_000, remaining: 8_000, resetAt: 60_000, seenAt: 1_000 },
        ]);
      });

      it('counts and removes zero-token samples an older tool left', async () => {
        await transact(async (tx) => {
          await tx.limiter.recordSample(scope, {
            at: 1,
            kind: 'window',
            tokens: 0,
            requests: 0,
            windowMs: 60_000,
            retryAfterMs: null,
            limitTokens: null,
            limitRequests: null,
          });
          await tx.limiter.recordSample(scope, {
            at: 2,
            kind: 'window',
            tokens: 5,
            requests: 1,
            windowMs: 60_000,
            retryAfterMs: null,
            limitTokens: null,
            limitRequests: null,
          });
        });
        expect(await transact((tx) => tx.limiter.countZeroTokenSamples())).toBe(1);
        expect(await transact((tx) => tx.limiter.deleteZeroTokenSamples())).toBe(1);
        expect(await transact((tx) => tx.limiter.countZeroTokenSamples())).toBe(0);
      });
    });

    describe('transactions', () => {
      it('are atomic: a work that throws leaves nothing of what it wrote', async () => {
        const failure = new Error('the decision failed halfway');
        await expect(
          transact(async (tx) => {
            await tx.limiter.createState(scope, initialLimiterState, 1_000);
            await tx.limiter.addToBucket(scope, 1_000, 10, 10, 1);
            await tx.limiter.insertAdmitted(admitted());
            await tx.supervisor.record({ at: 1_000, kind: 'worker-started', supervisorPid: 1 });
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await transact((tx) => tx.limiter.readState(scope))).toBeNull();
        expect(await transact((tx) => tx.limiter.bucketsFrom(scope, 0))).toEqual([]);
        expect(await transact((tx) => tx.reported.inFlightSince(scope, 0))).toEqual({ inputTokens: 0, outputTokens: 0, requests: 0 });
        expect(await transact((tx) => tx.supervisor.recent(5))).toEqual([]);
      });

      it('on one scope do not interleave: the second reads what the first committed', async () => {
        await transact((tx) => tx.limiter.createState(scope, initialLimiterState, 1_000));
        const firstRead = signal();
        const secondAsked = signal();
        const increment = async (tx: StoreTransaction, read: () => void, afterRead: Promise<void>): Promise<number> => {
          const state = (await tx.limiter.readState(scope))!;
          read();
          await afterRead;
          await tx.limiter.writeState(scope, { ...state, consecutive429s: state.consecutive429s + 1 }, tx.now);
          return state.consecutive429s;
        };
        // The first has read and holds its transaction open until the second has been asked for.
        const first = transact((tx) => increment(tx, firstRead.resolve, secondAsked.promise));
        await firstRead.promise;
        const second = transact((tx) => increment(tx, () => undefined, Promise.resolve()));
        secondAsked.resolve();
        expect(await Promise.all([first, second])).toEqual([0, 1]);
        expect((await transact((tx) => tx.limiter.readState(scope)))?.consecutive429s).toBe(2);
      });

      it('lose no update when many run at once on one scope', async () => {
        await transact((tx) => tx.limiter.createState(scope, initialLimiterState, 1_000));
        const count = 25;
        await Promise.all(
          Array.from({ length: count }, () =>
            transact(async (tx) => {
              const state = (await tx.limiter.readState(scope))!;
              await tx.limiter.addToBucket(scope, 1_000, 1, 0, 1);
              await tx.limiter.writeState(scope, { ...state, consecutive429s: state.consecutive429s + 1 }, tx.now);
            }),
          ),
        );
        expect((await transact((tx) => tx.limiter.readState(scope)))?.consecutive429s).toBe(count);
        expect(await transact((tx) => tx.limiter.bucketTotalsFrom(scope, 0))).toMatchObject({ inputTokens: count, requests: count });
      });

      it('take `now` from the store, once per transaction', async () => {
        clock.now = 1_750_000_000_000;
        expect(await transact(async (tx) => tx.now)).toBe(1_750_000_000_000);
        clock.advance(1_234);
        expect(await store.read(async (tx) => tx.now)).toBe(1_750_000_001_234);
      });

      it('read a snapshot that writes nothing, even when asked to', async () => {
        // A backend may refuse the write or drop it at the end; either way nothing persists.
        await store.read((tx) => tx.limiter.createState(scope, initialLimiterState, 1_000)).catch(() => undefined);
        expect(await transact((tx) => tx.limiter.readState(scope))).toBeNull();
      });
    });

    describe('two stores on the same data (two processes)', () => {
      /** What the request path reads of the scope, in one transaction of `on`. */
      const requestPathView = (on: Store, requestId: number) =>
        on.transact(async (tx) => ({
          state: await tx.limiter.readState(scope),
          totals: await tx.limiter.bucketTotalsFrom(scope, 0),
          reports: await tx.reported.reports(scope),
          outcome: (await tx.limiter.findRequest(requestId))?.outcome,
        }));

      it("each one's next transaction sees what the other committed: state, window totals, reports, a request settled", async () => {
        const other = await openOther();
        const requestId = await transact(async (tx) => {
          await tx.limiter.createState(scope, initialLimiterState, 1_000);
          await tx.limiter.addToBucket(scope, 1_000, 10, 5, 1);
          await tx.reported.writeReport(scope, report());
          return tx.limiter.insertAdmitted(admitted());
        });
        // Both have read it all (and may keep it in memory from here on).
        const first = {
          state: initialLimiterState,
          totals: { start: 1_000, inputTokens: 10, outputTokens: 5, requests: 1 },
          reports: [report()],
          outcome: 'in-flight',
        };
        expect(await requestPathView(store, requestId)).toEqual(first);
        expect(await requestPathView(other, requestId)).toEqual(first);

        await other.transact(async (tx) => {
          await tx.limiter.writeState(scope, stateWith({ consecutive429s: 3 }), 2_000);
          await tx.limiter.addToBucket(scope, 1_000, 1, 1, 1);
          await tx.limiter.addToBucket(scope, 2_000, 100, 0, 1);
          await tx.reported.addAdmitted(scope, 10, 20, 1);
          await tx.limiter.markSettled(requestId, 2_000, 'ok', 200, 10, 5);
        });
        const second = {
          state: stateWith({ consecutive429s: 3 }),
          totals: { start: 1_000, inputTokens: 111, outputTokens: 6, requests: 3 },
          reports: [report({ admittedSince: 30 })],
          outcome: 'ok',
        };
        expect(await requestPathView(store, requestId)).toEqual(second);

        await transact(async (tx) => {
          await tx.limiter.writeState(scope, stateWith({ consecutive429s: 4 }), 3_000);
          await tx.limiter.addToBucket(scope, 2_000, 0, 0, 1);
          await tx.reported.writeReport(scope, report({ remaining: 100, seenAt: 3_000 }));
        });
        expect(await requestPathView(other, requestId)).toEqual({
          ...second,
          state: stateWith({ consecutive429s: 4 }),
          totals: { ...second.totals, requests: 4 },
          reports: [report({ remaining: 100, seenAt: 3_000 })],
        });
      });

      it('a transaction that threw leaves nothing the next one reads, on either store', async () => {
        const other = await openOther();
        await transact(async (tx) => {
          await tx.limiter.createState(scope, initialLimiterState, 1_000);
          await tx.limiter.addToBucket(scope, 1_000, 10, 5, 1);
          await tx.reported.writeReport(scope, report());
        });
        const before = await requestPathView(store, 0);
        const failure = new Error('the decision failed halfway');
        let requestId = 0;
        await expect(
          transact(async (tx) => {
            await tx.limiter.writeState(scope, stateWith({ consecutive429s: 5 }), 2_000);
            await tx.limiter.addToBucket(scope, 1_000, 7, 7, 7);
            await tx.reported.addAdmitted(scope, 7, 7, 1);
            await tx.reported.writeReport(scope, report({ dimension: 'requests', limit: 50, remaining: 40 }));
            requestId = await tx.limiter.insertAdmitted(admitted());
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await requestPathView(store, requestId)).toEqual({ ...before, outcome: undefined });
        expect(await requestPathView(other, requestId)).toEqual({ ...before, outcome: undefined });
      });
    });

    it('names itself: its backend and a location to print', () => {
      expect(['sqlite', 'postgres']).toContain(store.backend);
      expect(store.location.length).toBeGreaterThan(0);
    });
  });
}
