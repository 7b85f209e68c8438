import { describe, expect, it } from 'vitest';
import { anthropicLimitHeaders, resetTime, retryAfterSeconds } from '../../../src/sim/anthropicLimitHeaders.js';
import { PromptCache, type PromptBlock } from '../../../src/sim/promptCache.js';

const t0 = 1_800_000_000_000;
const text = (tokens: number, fill = 'a'): string => fill.repeat(tokens * 4);
const block = (tokens: number, cacheControl = false, fill = 'a'): PromptBlock => ({ text: text(tokens, fill), cacheControl });

describe('the simulated prompt cache', () => {
  const cache = (): PromptCache => new PromptCache({ ttlMs: 30_000, minCacheableTokens: 1_024 });

  it('writes the prefix on first use and reads it on the next turn, charging only what is new', () => {
    const prompts = cache();
    const system = block(4_000, true, 's');
    const turn1 = [system, block(2_000, true, 'u')];
    expect(prompts.use('org', turn1, t0)).toEqual({ inputTokens: 0, cacheCreationInputTokens: 6_000, cacheReadInputTokens: 0 });
    const turn2 = [system, block(2_000, false, 'u'), block(800, false, 'r'), block(1_500, true, 'v')];
    expect(prompts.use('org', turn2, t0 + 1_000)).toEqual({ inputTokens: 0, cacheCreationInputTokens: 2_300, cacheReadInputTokens: 6_000 });
  });

  it('counts what follows the last breakpoint as input_tokens', () => {
    const prompts = cache();
    expect(prompts.use('org', [block(2_000, true), block(300)], t0)).toEqual({
      inputTokens: 300,
      cacheCreationInputTokens: 2_000,
      cacheReadInputTokens: 0,
    });
    expect(prompts.use('org', [block(2_000, true), block(300)], t0 + 1)).toEqual({
      inputTokens: 300,
      cacheCreationInputTokens: 0,
      cacheReadInputTokens: 2_000,
    });
  });

  it('forgets a prefix unused for its lifetime; every hit renews it', () => {
    const prompts = cache();
    const prompt = [block(2_000, true)];
    prompts.use('org', prompt, t0);
    expect(prompts.use('org', prompt, t0 + 29_000).cacheReadInputTokens).toBe(2_000);
    expect(prompts.use('org', prompt, t0 + 58_000).cacheReadInputTokens).toBe(2_000);
    expect(prompts.use('org', prompt, t0 + 88_001)).toEqual({ inputTokens: 0, cacheCreationInputTokens: 2_000, cacheReadInputTokens: 0 });
  });

  it('keeps workspaces apart and does not cache a prefix below the minimum', () => {
    const prompts = cache();
    prompts.use('org-a', [block(2_000, true)], t0);
    expect(prompts.use('org-b', [block(2_000, true)], t0).cacheReadInputTokens).toBe(0);
    expect(prompts.use('org-a', [block(500, true, 'z')], t0)).toEqual({
      inputTokens: 500,
      cacheCreationInputTokens: 0,
      cacheReadInputTokens: 0,
    });
  });

  it('changes nothing on a dry run', () => {
    const prompts = cache();
    expect(prompts.use('org', [block(2_000, true)], t0, { dryRun: true }).cacheCreationInputTokens).toBe(2_000);
    expect(prompts.use('org', [block(2_000, true)], t0).cacheCreationInputTokens).toBe(2_000);
  });
});

describe('the simulated rate-limit headers', () => {
  const report = {
    requests: { limit: 50, remaining: 49, resetMs: 1_200 },
    'input-tokens': { limit: 30_000, remaining: 27_600, resetMs: 4_800 },
    'output-tokens': { limit: 8_000, remaining: 1_700, resetMs: 46_000 },
  };

  it('rounds token counts to the thousand as the switch says, never request counts', () => {
    const nearest = anthropicLimitHeaders(report, { rounding: 'nearest', timeScale: 1, now: t0 });
    expect(nearest['anthropic-ratelimit-input-tokens-remaining']).toBe('28000');
    expect(nearest['anthropic-ratelimit-output-tokens-remaining']).toBe('2000');
    expect(nearest['anthropic-ratelimit-requests-remaining']).toBe('49');
    const down = anthropicLimitHeaders(report, { rounding: 'down', timeScale: 1, now: t0 });
    expect(down['anthropic-ratelimit-input-tokens-remaining']).toBe('27000');
    expect(down['anthropic-ratelimit-output-tokens-remaining']).toBe('1000');
    expect(anthropicLimitHeaders(report, { rounding: 'none', timeScale: 1, now: t0 })['anthropic-ratelimit-output-tokens-remaining']).toBe(
      '1700',
    );
  });

  it('reports the most restrictive token limit as anthropic-ratelimit-tokens-*', () => {
    const headers = anthropicLimitHeaders(report, { rounding: 'none', timeScale: 1, now: t0 });
    expect(headers['anthropic-ratelimit-tokens-limit']).toBe('8000');
    expect(headers['anthropic-ratelimit-tokens-remaining']).toBe('1700');
    expect(headers['anthropic-ratelimit-output-tokens-reset']).toBe(new Date(t0 + 46_000).toISOString().replace('.000Z', 'Z'));
  });

  it('keeps whole seconds on real time and the scaled resolution on compressed time, rounding up', () => {
    expect(resetTime(t0 + 1, 1)).toBe(new Date(t0 + 1_000).toISOString().replace('.000Z', 'Z'));
    expect(resetTime(t0 + 1, 10)).toBe(new Date(t0 + 100).toISOString());
    expect(retryAfterSeconds(4_001, 1)).toBe('5');
    expect(retryAfterSeconds(4_001, 10)).toBe('4.1');
  });
});
