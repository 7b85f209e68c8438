import { parseKeyAliases } from '../core/scopeNames.js';
import { formatDuration } from '../kernel/durations.js';
import { formatByteSize, parseByteSize, parseDuration } from './durations.js';
import { parseFamilyRules, parseScopeBudgetRules, type FamilyRule, type ScopeBudgetRule } from '../core/scopes.js';

/** How one configuration value is read from text (env, flag) or JSON (config file). */
export interface Field<T> {
  /** Words for the error message: `is not ${expected}`. */
  expected: string;
  example: string;
  describe: string;
  default: T;
  /** How --help names the value after the flag: `<duration>`, `<auto|anthropic|openai|generic>`. */
  placeholder: string;
  /** The values --help says are allowed, when the placeholder alone does not say. */
  allowed?: string;
  /** The default as --help shows it, when it is not simply the formatted value. */
  defaultHelp?: string;
  /** `problem`: a failure that needs its own words (and may not echo the value, e.g. a secret). */
  parse(raw: unknown): { ok: true; value: T } | { ok: false; problem?: string };
  /** The value as a user would write it (`60s`, `127.0.0.1:8787`), when that differs from its JSON. */
  format?(value: T): string;
  /**
   * An unsafe switch: hidden from --help and accepted only as a flag, never from the environment
   * or a config file, so that it cannot stay switched on by accident.
   */
  unsafe?: boolean;
}

const fail = { ok: false } as const;
const ok = <T>(value: T) => ({ ok: true, value }) as const;
const problem = (text: string) => ({ ok: false, problem: text }) as const;

/**
 * The longest any duration setting may be: 2^31−1 ms (about 24.8 days), the longest a Node.js
 * timer can wait. A longer delay fires at once (with a warning), which turned
 * `--upstream-timeout 600h` into "every request times out" and a long liveness interval into
 * a busy loop; so every duration is held to it, timer or not, for one rule that is easy to state.
 */
export const maxDurationMs = 2_147_483_647;
/** maxDurationMs as a user writes it (parseDuration reads it back exactly). */
export const maxDurationText = '596h31m23.647s';

export function duration(defaultMs: number, describe: string, { allowZero = true } = {}): Field<number> {
  return {
    expected: 'a duration',
    example: 'use e.g. 60s, 5m',
    describe,
    default: defaultMs,
    placeholder: '<duration>',
    allowed: `${allowZero ? '≥ 0' : '> 0'}, e.g. 300ms, 10s, 5m, 1h`,
    format: formatDuration,
    parse(raw) {
      const ms = typeof raw === 'number' && Number.isFinite(raw) ? raw : typeof raw === 'string' ? parseDuration(raw) : null;
      if (ms === null || ms < 0 || (!allowZero && ms === 0)) return fail;
      if (ms > maxDurationMs)
        return problem(
          `${JSON.stringify(raw)} is longer than the maximum of ${maxDurationText} (2^31−1 ms, the longest a timer can wait); use at most 596h`,
        );
      return ok(ms);
    },
  };
}

export function integer(defaultValue: number, describe: string, min = 0): Field<number> {
  return {
    expected: `a whole number ≥ ${min}`,
    example: `use e.g. ${Math.max(min, 5)}`,
    describe,
    default: defaultValue,
    placeholder: '<n>',
    allowed: `a whole number ≥ ${min}`,
    parse(raw) {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
      return Number.isSafeInteger(n) && n >= min ? ok(n) : fail;
    },
  };
}

/** A positive whole number, or unset (null): `none` and an empty string unset it. */
export function optionalCount(describe: string): Field<number | null> {
  return {
    expected: 'a whole number > 0 or "none"',
    example: 'use e.g. 40000, or none',
    describe,
    default: null,
    placeholder: '<n|none>',
    allowed: 'a whole number > 0, or none',
    parse(raw) {
      if (raw === null || raw === 'none' || raw === '') return ok(null);
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
      return Number.isSafeInteger(n) && n > 0 ? ok(n) : fail;
    },
  };
}

export function fraction(defaultValue: number, describe: string, { min = 0, max = 1, inclusiveMin = true } = {}): Field<number> {
  return {
    expected: `a number ${inclusiveMin ? '≥' : '>'} ${min} and ≤ ${max}`,
    example: `use e.g. ${defaultValue}`,
    describe,
    default: defaultValue,
    placeholder: '<number>',
    allowed: `${inclusiveMin ? '≥' : '>'} ${min} and ≤ ${max}`,
    parse(raw) {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      const aboveMin = inclusiveMin ? n >= min : n > min;
      return Number.isFinite(n) && aboveMin && n <= max ? ok(n) : fail;
    },
  };
}

export function choice<const T extends string>(values: readonly T[], defaultValue: T, describe: string): Field<T> {
  return {
    expected: `one of ${values.join(', ')}`,
    example: `use e.g. ${defaultValue}`,
    describe,
    default: defaultValue,
    placeholder: '<choice>',
    allowed: `one of ${values.join(', ')}`,
    parse(raw) {
      return typeof raw === 'string' && (values as readonly string[]).includes(raw) ? ok(raw as T) : fail;
    },
  };
}

export function flag(defaultValue: boolean, describe: string): Field<boolean> {
  return {
    expected: 'true or false',
    example: 'use true or false',
    describe,
    default: defaultValue,
    placeholder: '',
    parse(raw) {
      if (typeof raw === 'boolean') return ok(raw);
      if (raw === 'true' || raw === '1' || raw === 'yes') return ok(true);
      if (raw === 'false' || raw === '0' || raw === 'no') return ok(false);
      return fail;
    },
  };
}

/** A switch that turns a protection off; see `Field.unsafe`. Always off unless given as a flag. */
export function unsafeFlag(describe: string): Field<boolean> {
  return unsafe(flag(false, describe));
}

/** Any field made an unsafe switch: its default must be the safe value. */
export function unsafe<T>(field: Field<T>): Field<T> {
  return { ...field, unsafe: true };
}

export function text(
  defaultValue: string | null,
  describe: string,
  {
    expected = 'a non-empty string',
    example = '',
    placeholder = '<text>',
    defaultHelp,
  }: { expected?: string; example?: string; placeholder?: string; defaultHelp?: string } = {},
): Field<string | null> {
  return {
    expected,
    example,
    describe,
    default: defaultValue,
    placeholder,
    defaultHelp,
    parse(raw) {
      return typeof raw === 'string' && raw.trim() !== '' ? ok(raw.trim()) : fail;
    },
  };
}

export function httpUrl(describe: string): Field<string | null> {
  return {
    expected: 'an http:// or https:// URL',
    example: 'use e.g. https://api.anthropic.com',
    describe,
    default: null,
    placeholder: '<url>',
    allowed: 'an http:// or https:// URL, e.g. https://api.anthropic.com',
    defaultHelp: 'none; run needs one',
    parse(raw) {
      if (typeof raw !== 'string') return fail;
      // Never echo a URL that may carry a password: not even a malformed one.
      if (/^(?:[a-z][a-z0-9+.-]*:)?(?:\/\/)?[^/?#]*@/i.test(raw.trim())) {
        return problem(
          'the URL carries credentials (user:password@host), which ratewarden would neither send nor keep out of its output; remove them, the clients send their own API keys',
        );
      }
      let url: URL;
      try {
        url = new URL(raw.trim());
      } catch {
        return fail;
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail;
      if (url.username !== '' || url.password !== '')
        return problem('the URL carries credentials (user:password@host); remove them, the clients send their own API keys');
      if (url.search !== '' || url.hash !== '')
        return problem(
          `${JSON.stringify(`${url.origin}${url.pathname}`)} has a query or fragment, which would not be sent; give only scheme, host and path prefix`,
        );
      return ok(url.toString().replace(/\/$/, ''));
    },
  };
}

export interface ListenAddress {
  host: string;
  port: number;
}

export function listenAddress(defaultValue: ListenAddress, describe: string): Field<ListenAddress> {
  return {
    expected: 'HOST:PORT',
    example: 'use e.g. 127.0.0.1:8787, [::1]:8787, or 127.0.0.1:0 for any free port',
    describe,
    default: defaultValue,
    placeholder: '<host:port>',
    allowed: '[::1]:8787 for IPv6, port 0 for any free port',
    parse(raw) {
      if (typeof raw !== 'string') return fail;
      const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(raw.trim());
      if (match === null) return fail;
      const port = Number(match[3]);
      return port <= 65_535 ? ok({ host: (match[1] ?? match[2]) as string, port }) : fail;
    },
    format: ({ host, port }) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`),
  };
}

export function byteSize(defaultBytes: number, describe: string): Field<number> {
  return {
    expected: 'a size in bytes',
    example: 'use e.g. 512kb, 10mb',
    describe,
    default: defaultBytes,
    placeholder: '<size>',
    allowed: '> 0, e.g. 512kb, 10mb',
    parse(raw) {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? parseByteSize(raw) : null;
      return n !== null && Number.isSafeInteger(n) && n > 0 ? ok(n) : fail;
    },
    format: formatByteSize,
  };
}

/** `pattern=family,…`: model-name globs mapped to the family whose limits they share, before the built-in ones. */
export function familyRules(describe: string): Field<FamilyRule[]> {
  return {
    expected: 'a list of pattern=family',
    example: 'use e.g. "my-model-*=mine,llama-3*=llama-3"',
    describe,
    default: [],
    placeholder: '<pattern=family,…>',
    defaultHelp: 'none, the built-in Anthropic and OpenAI families only',
    format: (rules) => rules.map((rule) => `${rule.pattern}=${rule.family}`).join(','),
    parse(raw) {
      if (typeof raw !== 'string') return fail;
      const parsed = parseFamilyRules(raw);
      return parsed.ok ? ok(parsed.value) : problem(parsed.problem);
    },
  };
}

/** `fingerprint-or-last-4=alias,…` (or the config file's object): the names status and metrics give keys. */
export function keyAliasMap(describe: string): Field<Record<string, string>> {
  return {
    expected: 'a list of fingerprint-or-last-4=alias',
    example: 'use e.g. "3f9a0c2b7d1e4a55=ci-runner,AbCd=laptop"',
    describe,
    default: {},
    placeholder: '<key=alias,…>',
    defaultHelp: 'none: keys are named by their fingerprint',
    format: (aliases) =>
      Object.entries(aliases)
        .map(([name, alias]) => `${name}=${alias}`)
        .join(','),
    parse(raw) {
      const parsed = parseKeyAliases(raw);
      return parsed.ok ? ok(parsed.value) : problem(parsed.problem);
    },
  };
}

/** `scope-pattern=tokens:N,requests:N,daily-tokens:N,daily-requests:N; …`: limits for the scopes a glob matches. */
export function scopeBudgetRules(describe: string): Field<ScopeBudgetRule[]> {
  return {
    expected: 'a list of scope-pattern=limits',
    example: 'use e.g. "*/claude-opus=tokens:400000,requests:50"',
    describe,
    default: [],
    placeholder: '<pattern=limit:n,…;…>',
    defaultHelp: 'none, every scope follows the global budgets and what the upstream reports for it',
    format: (rules) =>
      rules
        .map((rule) => {
          const limits = [
            ['tokens', rule.tokenBudget],
            ['requests', rule.requestBudget],
            ['daily-tokens', rule.dailyTokenBudget],
            ['daily-requests', rule.dailyRequestBudget],
          ].filter(([, value]) => value !== undefined);
          return `${rule.pattern}=${limits.map(([name, value]) => `${String(name)}:${value === null ? 'none' : String(value)}`).join(',')}`;
        })
        .join('; '),
    parse(raw) {
      if (typeof raw !== 'string') return fail;
      const parsed = parseScopeBudgetRules(raw);
      return parsed.ok ? ok(parsed.value) : problem(parsed.problem);
    },
  };
}
