import { describe, expect, it } from 'vitest';
import { overlayPolicy, runningPolicy, type RecordedPolicy } from '../../../src/core/runningPolicy.js';
import { defaultLimiterPolicy } from '../../../src/core/types.js';

const now = 1_000_000;
const liveness = (pids: number[]) => ({
  rows: pids.map((pid) => ({
    role: 'worker' as const,
    pid,
    startedAt: now - 10_000,
    heartbeatAt: now - 1_000,
    listen: null,
    upstream: null,
  })),
  now,
  staleAfterMs: { worker: 6_000, supervisor: 15_000 },
  livePids: new Set(pids),
});
const recorded = (pid: number, writtenAt: number, policy: Record<string, unknown>): RecordedPolicy => ({
  role: 'worker',
  pid,
  writtenAt,
  policy,
});

describe('the running policy', () => {
  it('takes every field the document has, keeps the fallback for fields it lacks, and ignores mistyped ones', () => {
    const merged = overlayPolicy(defaultLimiterPolicy, {
      windowMs: 10_000,
      tokenBudget: 500,
      backoffBaseMs: 'soon',
      fieldOfANewerVersion: 1,
    });
    expect(merged).toEqual({ ...defaultLimiterPolicy, windowMs: 10_000, tokenBudget: 500 });
  });

  it('a field added to the policy later flows through the same document, with no migration', () => {
    const withNewField = { ...defaultLimiterPolicy, queueFairness: 'round-robin' };
    expect(overlayPolicy(withNewField, { ...withNewField, queueFairness: 'weighted' }).queueFairness).toBe('weighted');
  });

  it("prefers the running worker's policy, else the newest recorded, else says none was recorded", () => {
    const rows = [recorded(11, now - 5_000, { windowMs: 10_000 }), recorded(12, now - 1_000, { windowMs: 20_000 })];
    expect(runningPolicy('worker', rows, liveness([11]), defaultLimiterPolicy)).toMatchObject({
      policy: { windowMs: 10_000 },
      origin: { source: 'running', pid: 11 },
    });
    expect(runningPolicy('worker', rows, liveness([]), defaultLimiterPolicy)).toMatchObject({
      policy: { windowMs: 20_000 },
      origin: { source: 'last-recorded', pid: 12 },
    });
    expect(runningPolicy('worker', [], liveness([11]), defaultLimiterPolicy)).toEqual({
      policy: defaultLimiterPolicy,
      origin: { source: 'not-recorded', pid: null, writtenAt: null },
    });
  });
});
