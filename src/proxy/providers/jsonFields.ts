/** Narrowing helpers for JSON of unknown shape: upstream bodies are read, never trusted. */

export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * More tokens than any request spends (the largest context windows hold a few million): a count
 * above it is a broken or hostile answer, and settling it would block the window for nothing.
 */
export const maxPlausibleTokens = 100_000_000;

function isTokenCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= maxPlausibleTokens;
}

/**
 * Reads the count fields of an answer's usage and remembers whether any of them was there but
 * not a count (negative, fractional, huge, a string): such usage is unreadable, and the request
 * keeps its reservation instead of settling as zero. A field that is absent or null is not read.
 */
export class CountReader {
  private invalidSeen = false;

  get invalid(): boolean {
    return this.invalidSeen;
  }

  /** The usage object itself; anything but an object where one is expected makes the usage unreadable. */
  record(value: unknown): Record<string, unknown> | undefined {
    if (value === undefined || value === null) return undefined;
    const record = asRecord(value);
    if (record === undefined) this.invalidSeen = true;
    return record;
  }

  count(record: Record<string, unknown> | undefined, key: string): number | undefined {
    const value = record?.[key];
    if (value === undefined || value === null) return undefined;
    if (isTokenCount(value)) return value;
    this.invalidSeen = true;
    return undefined;
  }
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
