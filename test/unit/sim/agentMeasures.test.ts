import { describe, expect, it } from 'vitest';
import { AgentConversation, claudeCodeShape } from '../../../src/sim/agentConversation.js';
import {
  admittedInCooldown,
  bindingDimensions,
  bindingGoodput,
  measureRun,
  quantile,
  type CallRecord,
} from '../../../src/sim/agentMeasures.js';
import type { UpstreamArrival } from '../../../src/sim/anthropicUpstream.js';
import { PromptCache } from '../../../src/sim/promptCache.js';
import { SeededRandom } from '../../../src/sim/seededRandom.js';

const t0 = 1_000_000;
const limits = { requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 };

function call(overrides: Partial<CallRecord>): CallRecord {
  return {
    agent: 0,
    key: 'k',
    modelClass: 'sonnet',
    startedAt: t0,
    endedAt: t0 + 100,
    outcome: 'ok',
    attempts: [],
    usage: null,
    ...overrides,
  };
}

function arrival(overrides: Partial<UpstreamArrival>): UpstreamArrival {
  return {
    at: t0,
    key: 'k',
    organization: 'org',
    modelClass: 'sonnet',
    status: 200,
    limitedBy: [],
    usage: null,
    maxTokens: 32_000,
    outputTokens: 0,
    completed: true,
    ...overrides,
  };
}

describe('bench:agents figures', () => {
  it('takes quantiles by nearest rank', () => {
    expect(quantile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], 0.95)).toBe(19);
    expect(quantile([], 0.5)).toBe(0);
  });

  it('measures goodput per limit group against a full bucket plus the refill, input as ITPM counts it', () => {
    const calls = [
      call({ usage: { input: 10, cacheCreation: 2_990, cacheRead: 40_000, output: 1_600 } }),
      call({ outcome: 'rate-limited' }),
    ];
    // 60 s of run at a 60 s minute: capacity is two minutes' worth.
    const figures = measureRun({ calls, turns: [] }, [], [{ organization: 'org', modelClass: 'sonnet', limits }], () => 'org', {
      startedAt: t0,
      endedAt: t0 + 60_000,
      windowMs: 60_000,
      timeScale: 1,
    });
    expect(figures.goodput['org/sonnet']).toEqual({ requests: 1 / 100, input: 3_000 / 60_000, output: 1_600 / 16_000 });
    expect(figures.failures).toBe(1);
    expect(figures.failureRate).toBe(0.5);
    const binding = bindingDimensions(figures);
    expect(binding).toEqual({ 'org/sonnet': 'output' });
    expect(bindingGoodput(figures, binding)).toBeCloseTo(0.1);
  });

  it('counts turn times in real seconds, unfinished turns with what they waited', () => {
    const turns = [
      { agent: 0, role: 'light', startedAt: t0, endedAt: t0 + 1_000, finished: true },
      { agent: 1, role: 'flood', startedAt: t0, endedAt: t0 + 3_000, finished: false },
    ];
    const figures = measureRun({ calls: [], turns }, [], [], () => 'org', {
      startedAt: t0,
      endedAt: t0 + 6_000,
      windowMs: 6_000,
      timeScale: 10,
    });
    expect([figures.turnP50s, figures.turnP95s, figures.turnsFinished, figures.turns]).toEqual([10, 30, 1, 2]);
    expect(figures.turnsByRole).toEqual({ light: { turns: 1, p50s: 10, p95s: 10 }, flood: { turns: 1, p50s: 30, p95s: 30 } });
  });

  it('counts requests that reached the upstream inside a cooldown a client was told of, for the same key and class only', () => {
    const calls = [
      call({ attempts: [{ sentAt: t0, answeredAt: t0, status: 429, reason: 'cooldown', retryAfterMs: 3_000 }], outcome: 'rate-limited' }),
    ];
    const arrivals = [
      arrival({ at: t0 + 1_000, status: 429 }),
      arrival({ at: t0 + 2_000, key: 'other' }),
      arrival({ at: t0 + 2_000, modelClass: 'haiku' }),
      arrival({ at: t0 + 3_500 }),
    ];
    const figures = measureRun({ calls, turns: [] }, arrivals, [], () => 'org', {
      startedAt: t0,
      endedAt: t0 + 6_000,
      windowMs: 6_000,
      timeScale: 10,
    });
    expect([figures.forwardedInCooldown, figures.forwardedInCooldown429, figures.local429s]).toEqual([1, 1, { cooldown: 1 }]);
    expect(admittedInCooldown({ admissions: [t0, t0 + 10, t0 + 500], cooldowns: [{ at: t0, until: t0 + 400 }] })).toBe(1);
    // With the proxy's own records (one scope), its recorded cooldowns are the intervals.
    const recorded = measureRun(
      { calls, turns: [] },
      arrivals,
      [],
      () => 'org',
      { startedAt: t0, endedAt: t0 + 6_000, windowMs: 6_000, timeScale: 10 },
      { admissions: [t0 + 100], cooldowns: [{ at: t0 + 1_500, until: t0 + 4_000 }] },
    );
    expect([recorded.forwardedInCooldown, recorded.forwardedInCooldown429, recorded.cooldownSource, recorded.admittedInCooldown]).toEqual([
      3,
      0,
      'recorded',
      0,
    ]);
  });
});

describe('Claude-Code-shaped conversations', () => {
  it('grow turn by turn with the breakpoint on the newest message, so the cache serves all but the new part', () => {
    const conversation = new AgentConversation('agent', claudeCodeShape('claude-sonnet-4-6'), new SeededRandom(7));
    const cache = new PromptCache({ ttlMs: 300_000, minCacheableTokens: 1_024 });
    const blocksOf = (turn: ReturnType<AgentConversation['nextTurn']>) => [
      ...turn.params.system.map((block) => ({ text: block.text, cacheControl: block.cache_control !== undefined })),
      ...turn.params.messages.flatMap((message) =>
        message.content.map((block) => ({ text: block.text, cacheControl: block.cache_control !== undefined })),
      ),
    ];
    const first = conversation.nextTurn();
    expect(first.params.max_tokens).toBe(32_000);
    expect(first.answerTokens).toBeGreaterThanOrEqual(200);
    expect(first.answerTokens).toBeLessThanOrEqual(2_000);
    expect(cache.use('org', blocksOf(first), t0).cacheReadInputTokens).toBe(0);
    conversation.answered('a'.repeat(4_000));
    const second = conversation.nextTurn();
    expect(blocksOf(second).filter((block) => block.cacheControl)).toHaveLength(2);
    const usage = cache.use('org', blocksOf(second), t0 + 1_000);
    expect(usage.cacheReadInputTokens).toBe(conversation.contextTokens() - usage.cacheCreationInputTokens);
    expect(usage.cacheCreationInputTokens).toBeGreaterThan(1_000);
  });

  it('starts a new conversation past its cap, and draws the same turns from the same seed', () => {
    const draw = (): number[] => {
      const conversation = new AgentConversation('agent', claudeCodeShape('claude-sonnet-4-6'), new SeededRandom(3));
      return Array.from({ length: 30 }, () => {
        const turn = conversation.nextTurn();
        conversation.answered('a'.repeat(turn.answerTokens * 4));
        return turn.params.messages.length;
      });
    };
    const lengths = draw();
    expect(lengths).toEqual(draw());
    expect(lengths.filter((length) => length === 1).length).toBeGreaterThan(1);
  });
});
