import { describe, expect, it } from 'vitest';
import { aliasesByFingerprint, parseKeyAliases, readableScope } from '../../../src/core/scopeNames.js';

const learned = { provider: 'anthropic' as const, organization: 'c0ffee', project: null, learnedAt: 1 };

describe('readable scope names: organization id, model group and key aliases, never the key', () => {
  it("names a key's scope by its alias, given by fingerprint or by the key's last 4 characters", () => {
    const aliases = aliasesByFingerprint({ '0123456789abcdef': 'ci-runner', WxYz: 'laptop' }, [
      { ...learned, fingerprint: 'fedcba9876543210', keyHint: 'WxYz' },
      { ...learned, fingerprint: '1111111111111111', keyHint: 'nope' },
    ]);
    expect(readableScope('0123456789abcdef/claude-sonnet', aliases)).toBe('ci-runner/claude-sonnet');
    expect(readableScope('fedcba9876543210/claude-haiku', aliases)).toBe('laptop/claude-haiku');
    expect(readableScope('1111111111111111/claude-haiku', aliases)).toBe('1111111111111111/claude-haiku');
    expect(readableScope('org:c0ffee/claude-sonnet', aliases)).toBe('org:c0ffee/claude-sonnet');
    expect(readableScope('default', aliases)).toBe('default');
  });

  it("reads key-aliases from a flag or the config file's object, and refuses what is neither a fingerprint nor 4 characters", () => {
    expect(parseKeyAliases('0123456789abcdef=ci-runner, WxYz=laptop')).toEqual({
      ok: true,
      value: { '0123456789abcdef': 'ci-runner', WxYz: 'laptop' },
    });
    expect(parseKeyAliases({ WxYz: 'laptop' })).toEqual({ ok: true, value: { WxYz: 'laptop' } });
    expect(parseKeyAliases('sk-ant-api03-whole-key=oops')).toMatchObject({ ok: false });
    expect(parseKeyAliases({ WxYz: 'two words' })).toMatchObject({ ok: false });
    expect(parseKeyAliases(7)).toMatchObject({ ok: false });
  });
});
