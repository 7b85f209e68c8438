import { describe, expect, it } from 'vitest';
import { apiKeyOf, scopeChooser } from '../../../src/proxy/scopeOf.js';
import { priorityOf, sessionOf } from '../../../src/proxy/sessionOf.js';
import { quotaExhaustion } from '../../../src/proxy/providers/quotaError.js';

describe('the credential the upstream will use, by provider', () => {
  it('Anthropic: x-api-key, else Authorization Bearer', () => {
    expect(apiKeyOf({ 'x-api-key': 'A', authorization: 'Bearer B' }, 'anthropic')).toBe('A');
    expect(apiKeyOf({ authorization: 'Bearer B' }, 'anthropic')).toBe('B');
  });

  it('OpenAI: Authorization Bearer first: a random x-api-key added to escape a cooldown changes nothing', () => {
    expect(apiKeyOf({ authorization: 'Bearer K', 'x-api-key': 'random' }, 'openai')).toBe('K');
    expect(apiKeyOf({ 'api-key': 'azure' }, 'openai')).toBe('azure');
    expect(apiKeyOf({ authorization: 'Bearer K', 'x-api-key': 'random' }, 'generic')).toBe('K');
    expect(apiKeyOf({}, 'openai')).toBeNull();
  });

  it("a key whose organization is known counts in its organization's group; its own scope stays beside it", () => {
    const owners = new Map<string, string>();
    const choose = scopeChooser({ secret: 's', by: 'group', families: [], ownerOf: (fingerprint) => owners.get(fingerprint) ?? null });
    const alone = choose({ 'x-api-key': 'K' }, ' Claude-Sonnet-4-5 ', 'anthropic');
    expect(alone.scope).toMatch(/^[0-9a-f]{16}\/claude-sonnet$/);
    expect(alone).toMatchObject({ keyScope: null, learnsOrganization: true });
    owners.set(alone.fingerprint as string, 'org:abc');
    const grouped = choose({ 'x-api-key': 'K' }, 'claude-sonnet-4-6', 'anthropic');
    expect(grouped).toMatchObject({ scope: 'org:abc/claude-sonnet', keyScope: alone.scope });
    // An explicit --scope-by keeps its meaning and learns nothing.
    const byKey = scopeChooser({ secret: 's', by: 'key-and-model', families: [], ownerOf: () => 'org:abc' });
    expect(byKey({ 'x-api-key': 'K' }, 'claude-sonnet-4-6', 'anthropic')).toMatchObject({ scope: alone.scope, learnsOrganization: false });
  });
});

describe('sessions and priority for the fair queue', () => {
  const socket = { remoteAddress: '127.0.0.1', remotePort: 5555 };
  it("Claude Code's session, else the key, else the connection", () => {
    expect(sessionOf({ 'x-claude-code-session-id': 'abc' }, 'f00d', socket)).toBe('session:abc');
    expect(sessionOf({}, 'f00d', socket)).toBe('key:f00d');
    expect(sessionOf({}, null, socket)).toBe('connection:127.0.0.1:5555');
  });

  it('x-ratewarden-priority: batch; anything else is interactive', () => {
    expect(priorityOf({ 'x-ratewarden-priority': ' Batch ' })).toBe('batch');
    expect(priorityOf({ 'x-ratewarden-priority': 'urgent' })).toBe('interactive');
    expect(priorityOf({})).toBe('interactive');
  });
});

describe('a quota 429 told from a rate limit by its body', () => {
  it('OpenAI insufficient_quota and billing codes', () => {
    expect(
      quotaExhaustion(
        JSON.stringify({ error: { message: 'You exceeded your current quota', type: 'insufficient_quota', code: 'insufficient_quota' } }),
      ),
    ).toBe('You exceeded your current quota');
    expect(
      quotaExhaustion(JSON.stringify({ error: { message: 'm', type: 'insufficient_quota', code: 'project_spend_limit_exceeded' } })),
    ).toBe('m');
    expect(
      quotaExhaustion(
        JSON.stringify({ error: { message: 'Rate limit reached for requests', type: 'requests', code: 'rate_limit_exceeded' } }),
      ),
    ).toBeNull();
  });

  it('Anthropic enforced_spend_limit_reached and the spend-limit message', () => {
    const cap = {
      type: 'error',
      error: { type: 'rate_limit_error', message: 'spend cap', details: { error_code: 'enforced_spend_limit_reached' } },
    };
    expect(quotaExhaustion(JSON.stringify(cap))).toBe('spend cap');
    const spend = {
      type: 'error',
      error: {
        type: 'rate_limit_error',
        message: 'You have reached your specified API usage limits. You will regain access on 2026-01-01 at 00:00 UTC.',
      },
    };
    expect(quotaExhaustion(JSON.stringify(spend))).toMatch(/regain access/);
    expect(
      quotaExhaustion(
        JSON.stringify({
          type: 'error',
          error: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit' },
        }),
      ),
    ).toBeNull();
    expect(quotaExhaustion('not json')).toBeNull();
  });
});
