import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

export interface BodyDecoder {
  write(chunk: Buffer): void;
  /** Resolves true once every decoded byte has been delivered, false if decoding failed. */
  finish(): Promise<boolean>;
  /** Stops decoding and releases the decompressors; `finish` then resolves false. */
  abandon(): void;
}

const DECOMPRESSORS: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

function identityDecoder(onData: (chunk: Buffer) => void): BodyDecoder {
  let abandoned = false;
  return {
    write(chunk) {
      if (!abandoned) onData(chunk);
    },
    finish: async () => !abandoned,
    abandon() {
      abandoned = true;
    },
  };
}

function chainedDecoder(stages: Transform[], onData: (chunk: Buffer) => void): BodyDecoder {
  const first = stages[0];
  const last = stages[stages.length - 1];
  if (first === undefined || last === undefined) return identityDecoder(onData);
  let settled = false;
  let resolveOutcome: (ok: boolean) => void = () => undefined;
  const outcome = new Promise<boolean>((resolve) => {
    resolveOutcome = resolve;
  });

  function settle(ok: boolean): void {
    if (settled) return;
    settled = true;
    resolveOutcome(ok);
    if (!ok) for (const stage of stages) stage.destroy();
  }

  for (let index = 0; index + 1 < stages.length; index++) stages[index]?.pipe(stages[index + 1] as Transform);
  for (const stage of stages) stage.on('error', () => settle(false));
  last.on('data', (chunk: Buffer) => {
    if (!settled) onData(chunk);
  });
  last.once('end', () => settle(true));

  return {
    write(chunk) {
      if (!settled) first.write(chunk);
    },
    finish() {
      if (!settled) first.end();
      return outcome;
    },
    abandon() {
      settle(false);
    },
  };
}

/**
 * Undoes `content-encoding` (a list applied in order, so undone in reverse).
 * Returns null for an encoding it cannot undo: such a body carries no readable usage.
 */
export function createBodyDecoder(contentEncoding: string | undefined, onData: (chunk: Buffer) => void): BodyDecoder | null {
  const codings = (contentEncoding ?? '')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  const factories = codings.reverse().map((coding) => DECOMPRESSORS[coding]);
  const stages: Transform[] = [];
  for (const factory of factories) {
    if (factory === undefined) return null;
    stages.push(factory());
  }
  return stages.length === 0 ? identityDecoder(onData) : chainedDecoder(stages, onData);
}
