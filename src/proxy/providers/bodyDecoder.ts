import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

export interface BodyDecoder {
  write(chunk: Buffer): void;
  /** Resolves true once every decoded byte has been delivered, false if decoding failed. */
  finish(): Promise<boolean>;
  /** Stops decoding and releases the decompressors; `finish` then resolves false. */
  abandon(): void;
  /** True once decoding has failed or been abandoned. */
  hasFailed(): boolean;
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
    hasFailed: () => abandoned,
  };
}

function chainedDecoder(stages: [Transform, ...Transform[]], onData: (chunk: Buffer) => void): BodyDecoder {
  const [first] = stages;
  const last = stages.reduce((upstream, downstream) => upstream.pipe(downstream));
  let settled = false;
  let failed = false;
  let resolveOutcome: (ok: boolean) => void = () => undefined;
  const outcome = new Promise<boolean>((resolve) => {
    resolveOutcome = resolve;
  });

  function settle(ok: boolean): void {
    if (settled) return;
    settled = true;
    failed = !ok;
    resolveOutcome(ok);
    if (failed) for (const stage of stages) stage.destroy();
  }

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
    hasFailed: () => failed,
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
  const factories: Array<() => Transform> = [];
  for (const coding of codings.reverse()) {
    const factory = DECOMPRESSORS[coding];
    if (factory === undefined) return null;
    factories.push(factory);
  }
  const [first, ...rest] = factories.map((factory) => factory());
  return first === undefined ? identityDecoder(onData) : chainedDecoder([first, ...rest], onData);
}
