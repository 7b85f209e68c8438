export interface SseEvent {
  /** The `event:` field, or `message` when the event named none (the SSE default). */
  event: string;
  data: string;
}

export interface SseParser {
  push(chunk: Buffer): void;
  /** Dispatches a final event whose terminating blank line never came. */
  finish(): void;
}

const LF = 0x0a;
const CR = 0x0d;

/*
 * Splits raw bytes into lines before decoding them: LF and CR never occur inside a UTF-8
 * multi-byte sequence, so a character split across chunks is always decoded whole.
 * A line longer than `maxLineBytes` is dropped rather than buffered, because usage events are
 * small and an unbounded line would make the tap hold an unbounded amount of a stream.
 */
export function createSseParser(onEvent: (event: SseEvent) => void, maxLineBytes = 1 << 20): SseParser {
  let partial: Buffer[] = [];
  let partialBytes = 0;
  let droppingLongLine = false;
  let previousChunkEndedWithCr = false;
  let eventName = '';
  let dataLines: string[] = [];

  function dispatch(): void {
    if (dataLines.length > 0) onEvent({ event: eventName || 'message', data: dataLines.join('\n') });
    eventName = '';
    dataLines = [];
  }

  function handleLine(line: string): void {
    if (line === '') return dispatch();
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const rawValue = colon === -1 ? '' : line.slice(colon + 1);
    const value = rawValue.startsWith(' ') ? rawValue.slice(1) : rawValue;
    if (field === 'event') eventName = value;
    else if (field === 'data') dataLines.push(value);
  }

  function completeLine(tail: Buffer): void {
    const wasDropping = droppingLongLine;
    const line = partialBytes === 0 ? tail : Buffer.concat([...partial, tail]);
    partial = [];
    partialBytes = 0;
    droppingLongLine = false;
    if (!wasDropping && line.length <= maxLineBytes) handleLine(line.toString('utf8'));
  }

  function keepPartial(piece: Buffer): void {
    if (droppingLongLine || piece.length === 0) return;
    if (partialBytes + piece.length > maxLineBytes) {
      droppingLongLine = true;
      partial = [];
      partialBytes = 0;
      return;
    }
    // Copy, so that a few leftover bytes do not keep a whole network chunk alive.
    partial.push(Buffer.from(piece));
    partialBytes += piece.length;
  }

  function push(chunk: Buffer): void {
    let start = previousChunkEndedWithCr && chunk[0] === LF ? 1 : 0;
    previousChunkEndedWithCr = false;
    // Streams end their lines with LF alone: then the native search finds each line end.
    if (!chunk.includes(CR, start)) {
      for (let end = chunk.indexOf(LF, start); end !== -1; end = chunk.indexOf(LF, start)) {
        completeLine(chunk.subarray(start, end));
        start = end + 1;
      }
      keepPartial(chunk.subarray(start));
      return;
    }
    for (let index = start; index < chunk.length; index++) {
      const byte = chunk[index];
      if (byte !== LF && byte !== CR) continue;
      completeLine(chunk.subarray(start, index));
      if (byte === CR) {
        if (index + 1 === chunk.length) previousChunkEndedWithCr = true;
        else if (chunk[index + 1] === LF) index++;
      }
      start = index + 1;
    }
    keepPartial(chunk.subarray(start));
  }

  function finish(): void {
    if (partialBytes > 0) completeLine(Buffer.alloc(0));
    dispatch();
  }

  return { push, finish };
}
