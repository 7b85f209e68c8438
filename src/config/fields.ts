import { formatByteSize, formatDuration, parseByteSize, parseDuration } from './durations.js';

/** How one configuration value is read from text (env, flag) or JSON (config file). */
export interface Field<T> {
  /** Words for the error message: `is not ${expected}`. */
  expected: string;
  example: string;
  describe: string;
  default: T;
  parse(raw: unknown): { ok: true; value: T } | { ok: false };
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

export function duration(defaultMs: number, describe: string, { allowZero = true } = {}): Field<number> {
  return {
    expected: 'a duration',
    example: 'use e.g. 60s, 5m',
    describe,
    default: defaultMs,
    format: formatDuration,
    parse(raw) {
      const ms = typeof raw === 'number' && Number.isFinite(raw) ? raw : typeof raw === 'string' ? parseDuration(raw) : null;
      if (ms === null || ms < 0 || (!allowZero && ms === 0)) return fail;
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

export function text(defaultValue: string | null, describe: string, expected = 'a non-empty string', example = ''): Field<string | null> {
  return {
    expected,
    example,
    describe,
    default: defaultValue,
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
    parse(raw) {
      if (typeof raw !== 'string') return fail;
      try {
        const url = new URL(raw.trim());
        return url.protocol === 'http:' || url.protocol === 'https:' ? ok(url.toString().replace(/\/$/, '')) : fail;
      } catch {
        return fail;
      }
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
    parse(raw) {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? parseByteSize(raw) : null;
      return n !== null && Number.isSafeInteger(n) && n > 0 ? ok(n) : fail;
    },
    format: formatByteSize,
  };
}
