import { describe, expect, it } from 'vitest';
import { readTopLevelFields, scanTopLevelFields, wantedFields } from '../../../src/proxy/providers/topLevelFields.js';

const names = ['model', 'max_tokens', 'max_completion_tokens', 'max_output_tokens'];
const wanted = wantedFields(names);

/** What the estimate read before: the whole body parsed, then the wanted members picked. */
function byJsonParse(body: Buffer): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const picked: Record<string, unknown> = {};
  for (const name of names) if (Object.hasOwn(parsed, name)) picked[name] = (parsed as Record<string, unknown>)[name];
  return picked;
}

/** A small deterministic PRNG (mulberry32), so that every run checks the same cases. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pieces = [
  '"',
  '\\',
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  ' ',
  '\n',
  '\t',
  '0',
  '1',
  '-',
  '+',
  '.',
  'e',
  'E',
  'u',
  'n',
  't',
  'f',
  'null',
  'true',
  '"model"',
  '"max_tokens"',
  '\u0001',
  '\u00e9',
  '\u2028',
  '\ud83d\ude00',
];
const keys = [
  'model',
  'max_tokens',
  'max_completion_tokens',
  'max_output_tokens',
  'messages',
  'max\\u005ftokens',
  'mod\\u0065l',
  'stream',
  '',
];

function randomJson(next: () => number, depth: number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const kind = Math.floor(next() * (depth > 3 ? 4 : 6));
  switch (kind) {
    case 0:
      return pick(['0', '-0', '16', '16.0', '1e3', '1.5E+1', '-2', '9007199254740993', '0.5', '128000', '2.5e-3']);
    case 1:
      return pick(['"bench"', '"claude-\\u00e9"', '"a\\"b"', '"\\ud83d\\ude00"', '""', `"${'x'.repeat(300)}"`, '"é\\n\\t\\/"']);
    case 2:
      return pick(['true', 'false', 'null']);
    case 3:
      return pick(['"model"', '42', '[]', '{}']);
    case 4:
      return `[${Array.from({ length: Math.floor(next() * 4) }, () => randomJson(next, depth + 1)).join(pick([',', ' , ', ',\n']))}]`;
    default:
      return `{${Array.from({ length: Math.floor(next() * 5) }, () => `"${pick(keys)}"${pick([':', ' : '])}${randomJson(next, depth + 1)}`).join(',')}}`;
  }
}

function mutate(text: string, next: () => number): Buffer {
  let bytes = Buffer.from(text);
  const edits = Math.floor(next() * 3);
  for (let edit = 0; edit < edits; edit++) {
    const at = Math.floor(next() * (bytes.length + 1));
    const choice = next();
    if (choice < 0.3) bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
    else if (choice < 0.9)
      bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(pieces[Math.floor(next() * pieces.length)] as string), bytes.subarray(at)]);
    else bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([[0xff, 0xe2][Math.floor(next() * 2)] as number]), bytes.subarray(at)]);
  }
  return bytes;
}

describe('reading the top-level members admission needs', () => {
  it('gives what JSON.parse gives, for valid and broken bodies alike (generated cases)', () => {
    const next = random(15);
    let valid = 0;
    for (let index = 0; index < 30_000; index++) {
      const top = index % 3 === 0 ? randomJson(next, 0) : `{${randomJson(next, 1).slice(1, -1) || '"model":"m"'}}`;
      const body = index % 2 === 0 ? Buffer.from(top) : mutate(top, next);
      const expected = byJsonParse(body);
      if (expected !== undefined) valid += 1;
      expect(scanTopLevelFields(body, wanted), body.toString('utf8')).toEqual(expected);
    }
    // Both kinds of case were exercised.
    expect(valid).toBeGreaterThan(5_000);
    expect(valid).toBeLessThan(29_000);
  });

  it('reads escaped member names and the last of duplicates, as JSON.parse does', () => {
    const body = Buffer.from('{"max\\u005ftokens": 5, "model": "a", "messages": [{"model": "inner", "max_tokens": 1}], "model": "b"}');
    expect(scanTopLevelFields(body, wanted)).toEqual({ max_tokens: 5, model: 'b' });
  });

  it('refuses what JSON.parse refuses: a byte-order mark, trailing garbage, a raw control character in a string, a leading zero', () => {
    for (const text of [
      '\ufeff{"model":"m"}',
      '{"model":"m"} x',
      '{"model":"a\u0001"}',
      '{"max_tokens":016}',
      '{"model":"m",}',
      '{"model":"m"',
    ]) {
      expect(scanTopLevelFields(Buffer.from(text), wanted), text).toBeUndefined();
    }
  });

  it('answers alike below and above the size where it switches from JSON.parse to the scan', () => {
    for (const size of [100, 4_000, 5_000, 100_000]) {
      const body = Buffer.from(JSON.stringify({ model: 'm', messages: [{ content: 'x'.repeat(size) }], max_tokens: 9 }));
      expect(readTopLevelFields(body, wanted)).toEqual({ model: 'm', max_tokens: 9 });
      const broken = Buffer.concat([body.subarray(0, body.length - 1), Buffer.from(',}')]);
      expect(readTopLevelFields(broken, wanted)).toBeUndefined();
    }
  });

  it('walks a deeply nested body without recursion', () => {
    const depth = 100_000;
    const body = Buffer.from(`{"messages":${'['.repeat(depth)}${']'.repeat(depth)},"max_tokens":7}`);
    expect(scanTopLevelFields(body, wanted)).toEqual({ max_tokens: 7 });
  });
});
