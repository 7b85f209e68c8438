import { afterEach, describe, expect, it } from 'vitest';
import { defaultLimiterPolicy, initialLimiterState } from '../../../../src/core/types.js';
import { openPostgresStore } from '../../../../src/store/postgres/openStore.js';
import type { Store } from '../../../../src/store/port.js';
import { joinGroup } from '../../../../src/warden/limitGroupSteps.js';
import { Warden } from '../../../../src/warden/warden.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/postgresDatabase.js';

const keyScope = 'kfeedfacefeedface/claude-sonnet';
const group = 'org:acme/claude-sonnet';
const policy = { ...defaultLimiterPolicy, tokenBudget: 1_000_000, requestBudget: 1_000 };

describe('a key joining its group while a request of its scope settles (PostgreSQL)', () => {
  let database: TestDatabase | null = null;
  let warden: Warden | null = null;

  afterEach(async () => {
    await warden?.close();
    await database?.drop();
    warden = null;
    database = null;
  });

  it('settles the request in the group the join moved it to: the real usage counts there once, nothing stays behind in the key', async () => {
    database = await createTestDatabase();
    const store: Store = await openPostgresStore({ url: database.url, host: 'join-race', poolSize: 4 });
    warden = await Warden.open({ store, policy, clock: Date.now, heldFile: null });
    const admission = await warden.admit({
      method: 'POST',
      path: '/v1/messages',
      estimate: { inputTokens: 1_000, outputTokens: 4_000 },
      scope: keyScope,
    });
    if (admission.kind !== 'admitted') throw new Error(`not admitted: ${admission.message}`);

    // The join holds its transaction open once it has moved the key's usage and requests.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let moved: () => void = () => undefined;
    const joinedButOpen = new Promise<void>((resolve) => (moved = resolve));
    const join = store.transact(async (tx) => {
      const joined = await joinGroup(
        tx,
        { fingerprint: 'kfeedfacefeedface', keyHint: null },
        { provider: 'anthropic', organization: 'acme', project: null },
        async (scope) => {
          if ((await tx.limiter.readState(scope)) === null) await tx.limiter.createState(scope, initialLimiterState, tx.now);
        },
      );
      moved();
      await held;
      return joined;
    });
    await joinedButOpen;
    const settled = warden.settle(admission.requestId, { outcome: 'ok', status: 200, usage: { inputTokens: 1_000, outputTokens: 250 } });
    // The settle waits for the key's row, which the join holds; let the join commit under it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    expect(await join).toEqual([{ from: keyScope, to: group }]);
    await settled;

    const usage = await store.read(async (tx) => ({
      group: await tx.limiter.bucketTotalsFrom(group, 0),
      key: await tx.limiter.bucketTotalsFrom(keyScope, 0),
      request: await tx.limiter.findRequest(admission.requestId),
    }));
    expect(usage.request).toMatchObject({ scope: group, outcome: 'ok' });
    expect(usage.group).toMatchObject({ inputTokens: 1_000, outputTokens: 250, requests: 1 });
    expect(usage.key).toMatchObject({ inputTokens: 0, outputTokens: 0, requests: 0 });
  });
});
