/** Splits bytes into pieces ending at the given offsets, to feed a parser arbitrary chunk boundaries. */
export function splitAt(bytes: Buffer, offsets: number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let start = 0;
  for (const offset of [...offsets].sort((a, b) => a - b)) {
    if (offset <= start || offset >= bytes.length) continue;
    pieces.push(bytes.subarray(start, offset));
    start = offset;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

export function everyByte(bytes: Buffer): Buffer[] {
  return Array.from({ length: bytes.length }, (_, index) => bytes.subarray(index, index + 1));
}

/** A small deterministic generator, so that "random" boundaries are the same on every run. */
export function seededOffsets(seed: number, length: number, count: number): number[] {
  let state = seed;
  return Array.from({ length: count }, () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return 1 + (state % Math.max(1, length - 1));
  });
}

export function sse(events: Array<{ event?: string; data: unknown }>, lineEnding = '\n'): Buffer {
  const text = events
    .map(({ event, data }) => {
      const payload = typeof data === 'string' ? data : JSON.stringify(data);
      return `${event === undefined ? '' : `event: ${event}${lineEnding}`}data: ${payload}${lineEnding}${lineEnding}`;
    })
    .join('');
  return Buffer.from(text, 'utf8');
}
