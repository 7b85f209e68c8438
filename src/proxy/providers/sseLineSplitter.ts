const LF = 0x0a;
const CR = 0x0d;

/*
 * Splits raw bytes into lines before decoding them: LF and CR never occur inside a UTF-8
 * multi-byte sequence, so a character split across chunks is always decoded whole.
 * A line longer than `maxLineBytes` is dropped rather than buffered, because usage events are
 * small and an unbounded line would make the tap hold an unbounded amount of a stream.
 */
export class SseLineSplitter {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private droppingLongLine = false;
  private previousChunkEndedWithCr = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineBytes: number,
  ) {}

  push(chunk: Buffer): void {
    let start = this.previousChunkEndedWithCr && chunk[0] === LF ? 1 : 0;
    this.previousChunkEndedWithCr = false;
    // Streams end their lines with LF alone: then the native search finds each line end.
    if (!chunk.includes(CR, start)) {
      for (let end = chunk.indexOf(LF, start); end !== -1; end = chunk.indexOf(LF, start)) {
        this.completeLine(chunk.subarray(start, end));
        start = end + 1;
      }
      this.keepPartial(chunk.subarray(start));
      return;
    }
    for (let index = start; index < chunk.length; index++) {
      const byte = chunk[index];
      if (byte !== LF && byte !== CR) continue;
      this.completeLine(chunk.subarray(start, index));
      if (byte === CR) {
        if (index + 1 === chunk.length) this.previousChunkEndedWithCr = true;
        else if (chunk[index + 1] === LF) index++;
      }
      start = index + 1;
    }
    this.keepPartial(chunk.subarray(start));
  }

  /** Completes a last line whose line end never came. */
  finish(): void {
    if (this.partialBytes > 0) this.completeLine(Buffer.alloc(0));
  }

  private completeLine(tail: Buffer): void {
    const wasDropping = this.droppingLongLine;
    const line = this.partialBytes === 0 ? tail : Buffer.concat([...this.partial, tail]);
    this.partial = [];
    this.partialBytes = 0;
    this.droppingLongLine = false;
    if (!wasDropping && line.length <= this.maxLineBytes) this.onLine(line.toString('utf8'));
  }

  private keepPartial(piece: Buffer): void {
    if (this.droppingLongLine || piece.length === 0) return;
    if (this.partialBytes + piece.length > this.maxLineBytes) {
      this.droppingLongLine = true;
      this.partial = [];
      this.partialBytes = 0;
      return;
    }
    // Copy, so that a few leftover bytes do not keep a whole network chunk alive.
    this.partial.push(Buffer.from(piece));
    this.partialBytes += piece.length;
  }
}
