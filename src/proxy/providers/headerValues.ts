/** Parsers for single header values; each returns undefined for anything it does not recognise. */

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001, µs: 0.001, μs: 0.001, ns: 0.000_001 };
const DURATION_PART = /(\d+(?:\.\d+)?|\.\d+)(ms|us|µs|μs|ns|h|m|s)/gy;
const DECIMAL = /^(?:\d+(?:\.\d+)?|\.\d+)$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;
// RFC 9110 makes recipients accept IMF-fixdate and the two obsolete forms; all start with a day name.
const HTTP_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /;

export function firstValue(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  const trimmed = first?.trim();
  return trimmed ? trimmed : undefined;
}

export function parseCount(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

export function parseDecimal(text: string | undefined): number | undefined {
  if (text === undefined || !DECIMAL.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** Go's `time.Duration` text (`6m0s`, `20ms`, `1h2m3.5s`) in milliseconds. */
export function parseGoDuration(text: string | undefined): number | undefined {
  if (text === undefined || text.length === 0) return undefined;
  if (text === '0') return 0;
  DURATION_PART.lastIndex = 0;
  let totalMs = 0;
  let consumed = 0;
  for (let part = DURATION_PART.exec(text); part !== null; part = DURATION_PART.exec(text)) {
    const [whole, amount, unit] = part;
    const unitMs = unit === undefined ? undefined : UNIT_MS[unit];
    if (amount === undefined || unitMs === undefined) return undefined;
    totalMs += Number(amount) * unitMs;
    consumed += whole.length;
  }
  return consumed === text.length && Number.isFinite(totalMs) ? totalMs : undefined;
}

/** Milliseconds from `now` until an absolute time, never negative (a past reset means "now"). */
function msUntil(epochMs: number, now: number): number | undefined {
  return Number.isFinite(epochMs) ? Math.max(0, epochMs - now) : undefined;
}

export function parseRfc3339Until(text: string | undefined, now: number): number | undefined {
  if (text === undefined || !RFC3339.test(text)) return undefined;
  return msUntil(Date.parse(text), now);
}

export function parseHttpDateUntil(text: string | undefined, now: number): number | undefined {
  if (text === undefined || !HTTP_DATE.test(text)) return undefined;
  // The asctime form names no zone, but HTTP dates are always GMT, never the host's local time.
  return msUntil(Date.parse(/GMT$/.test(text) ? text : `${text} GMT`), now);
}
