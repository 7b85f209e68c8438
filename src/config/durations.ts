const unitMs: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Parses `300ms`, `10s`, `1.5s`, `5m`, `1h`, or a combination such as `1m30s`. Null when malformed. */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  // Zero needs no unit: `--restart-sec 0`.
  if (/^0+(?:\.0+)?$/.test(trimmed)) return 0;
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let position = 0;
  while (position < trimmed.length) {
    part.lastIndex = position;
    const match = part.exec(trimmed);
    if (match === null) return null;
    total += Number(match[1]) * (unitMs[match[2] as string] as number);
    position = part.lastIndex;
  }
  return Math.round(total);
}

const sizeUnits: Record<string, number> = { b: 1, kb: 1_024, k: 1_024, mb: 1_048_576, m: 1_048_576, gb: 1_073_741_824, g: 1_073_741_824 };

/** Parses a byte size: `512kb`, `10mb`, `1048576`. Null when malformed. */
export function parseByteSize(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (match === null) return null;
  const factor = sizeUnits[(match[2] as string).toLowerCase() || 'b'];
  return factor === undefined ? null : Math.round(Number(match[1]) * factor);
}

/** The shortest exact form that parseByteSize reads back: 10mb, 512kb, 1000. */
export function formatByteSize(bytes: number): string {
  for (const [unit, factor] of [
    ['gb', 1_073_741_824],
    ['mb', 1_048_576],
    ['kb', 1_024],
  ] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return String(bytes);
}
