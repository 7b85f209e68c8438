import type { ClassLimits } from '../src/sim/anthropicLimiter.js';
import type { ApiKey, ModelClass } from '../src/sim/anthropicUpstream.js';
import type { AgentPlan } from './agentsFleet.js';

/*
 * bench:agents' scenarios. Limits are Anthropic's published tiers (docs.anthropic.com, "Rate
 * limits", 2026): Tier 1 Opus 4.x / Sonnet 4.x 50 RPM, 30 000 ITPM, 8 000 OTPM; Haiku 4.5
 * 50 RPM, 50 000 ITPM, 10 000 OTPM; Tier 2 Sonnet 4.x 1 000 RPM, 450 000 ITPM, 90 000 OTPM; Tier 4 Sonnet 4.x 4 000 RPM, 2 000 000 ITPM, 400 000 OTPM.
 */
export const tier1Sonnet: ClassLimits = { requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 };
export const tier1Opus: ClassLimits = { requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 };
export const tier1Haiku: ClassLimits = { requestsPerMinute: 50, inputTokensPerMinute: 50_000, outputTokensPerMinute: 10_000 };
export const tier2Sonnet: ClassLimits = { requestsPerMinute: 1_000, inputTokensPerMinute: 450_000, outputTokensPerMinute: 90_000 };
export const tier4Sonnet: ClassLimits = { requestsPerMinute: 4_000, inputTokensPerMinute: 2_000_000, outputTokensPerMinute: 400_000 };

const SONNET = 'claude-sonnet-4-6';
const OPUS = 'claude-opus-4-6';
const HAIKU = 'claude-haiku-4-5';

export interface ScenarioContext {
  timeScale: number;
  /** Real-time length of the run. */
  durationMs: number;
  maxTokens: number;
}

export interface Scenario {
  name: string;
  what: string;
  keys: Record<string, ApiKey>;
  classes: ModelClass[];
  agents: AgentPlan[];
}

const sonnetClass = (limits: ClassLimits): ModelClass => ({ prefix: 'claude-sonnet', name: 'sonnet', limits, minCacheableTokens: 1_024 });
const opusClass: ModelClass = { prefix: 'claude-opus', name: 'opus', limits: tier1Opus, minCacheableTokens: 1_024 };
// Haiku 4.5 caches prefixes from 4 096 tokens; the agents' system prompt alone is 4 000.
const haikuClass: ModelClass = { prefix: 'claude-haiku', name: 'haiku', limits: tier1Haiku, minCacheableTokens: 4_096 };

function agents(
  count: number,
  plan: (index: number) => Omit<AgentPlan, 'maxTokens' | 'turns' | 'startAfterMs'> & Partial<AgentPlan>,
  context: ScenarioContext,
): AgentPlan[] {
  // Agents start spread over the first 10 real seconds, as a team's sessions do.
  return Array.from({ length: count }, (_, index) => ({
    maxTokens: context.maxTokens,
    turns: Number.POSITIVE_INFINITY,
    startAfterMs: (index * 10_000) / count / context.timeScale,
    ...plan(index),
  }));
}

export function scenarios(context: ScenarioContext): Scenario[] {
  const quietMinute = 60_000 / context.timeScale;
  const warmUp = Math.min(120_000, context.durationMs / 4) / context.timeScale;
  return [
    {
      name: 'one-key',
      what: '8 agents on one key, Sonnet class, Tier-1 limits',
      keys: { 'sk-ant-one': { organization: 'org-one' } },
      classes: [sonnetClass(tier1Sonnet)],
      agents: agents(8, () => ({ key: 'sk-ant-one', model: SONNET, modelClass: 'sonnet' }), context),
    },
    {
      name: 'org-keys',
      what: '8 agents on 4 keys of one organization, Sonnet class, Tier-1 limits',
      keys: Object.fromEntries([0, 1, 2, 3].map((index) => [`sk-ant-org-${index}`, { organization: 'org-shared' }])),
      classes: [sonnetClass(tier1Sonnet)],
      agents: agents(8, (index) => ({ key: `sk-ant-org-${index % 4}`, model: SONNET, modelClass: 'sonnet' }), context),
    },
    {
      name: 'two-classes',
      what: '4 Opus-class and 4 Haiku-class agents on one key, each class with its own Tier-1 limits',
      keys: { 'sk-ant-two': { organization: 'org-two' } },
      classes: [opusClass, haikuClass],
      agents: agents(
        8,
        (index) =>
          index % 2 === 0
            ? { key: 'sk-ant-two', model: OPUS, modelClass: 'opus' }
            : { key: 'sk-ant-two', model: HAIKU, modelClass: 'haiku' },
        context,
      ),
    },
    {
      name: 'burst',
      what: `4 agents work ${Math.round((warmUp * context.timeScale) / 60_000)} min (no new turn after it), a quiet minute, then 40 sub-agents send one turn each at once; one key, Sonnet class, Tier-2 limits (Tier 1 serves one such request at a time)`,
      keys: { 'sk-ant-burst': { organization: 'org-burst' } },
      classes: [sonnetClass(tier2Sonnet)],
      agents: [
        ...agents(4, () => ({ key: 'sk-ant-burst', model: SONNET, modelClass: 'sonnet', stopAfterMs: warmUp }), context),
        ...Array.from({ length: 40 }, () => ({
          key: 'sk-ant-burst',
          model: SONNET,
          modelClass: 'sonnet',
          maxTokens: context.maxTokens,
          turns: 1,
          startAfterMs: warmUp + quietMinute,
        })),
      ],
    },
    {
      name: 'two-orgs',
      what: '8 agents on 8 keys, 4 keys in each of two organizations, each organization with its own Tier-1 limits (issue 21: a 429 in one never slows the other)',
      keys: Object.fromEntries(
        [0, 1, 2, 3, 4, 5, 6, 7].map((index) => [`sk-ant-two-orgs-${index}`, { organization: index < 4 ? 'org-a' : 'org-b' }]),
      ),
      classes: [sonnetClass(tier1Sonnet)],
      agents: agents(8, (index) => ({ key: `sk-ant-two-orgs-${index}`, model: SONNET, modelClass: 'sonnet' }), context),
    },
    {
      name: 'flood',
      what: `4 agents work while, after ${Math.round((warmUp * context.timeScale) / 60_000)} min, one session floods 200 one-turn requests at once (max_tokens 1024); one key, Tier-2 limits (issue 21: fairness between sessions; turn times per role)`,
      keys: { 'sk-ant-flood': { organization: 'org-flood' } },
      classes: [sonnetClass(tier2Sonnet)],
      agents: [
        ...agents(4, () => ({ key: 'sk-ant-flood', model: SONNET, modelClass: 'sonnet', role: 'light' }), context),
        ...Array.from({ length: 200 }, () => ({
          key: 'sk-ant-flood',
          model: SONNET,
          modelClass: 'sonnet',
          maxTokens: 1_024,
          turns: 1,
          startAfterMs: warmUp,
          session: 'flood',
          role: 'flood',
        })),
      ],
    },
    {
      name: 'tier4',
      what: '24 agents on one key, Sonnet class, Tier-4 limits',
      keys: { 'sk-ant-tier4': { organization: 'org-tier4' } },
      classes: [sonnetClass(tier4Sonnet)],
      agents: agents(24, () => ({ key: 'sk-ant-tier4', model: SONNET, modelClass: 'sonnet' }), context),
    },
  ];
}
