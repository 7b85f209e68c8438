import { describe, expect, it } from 'vitest';
import { createSseParser, type SseEvent } from '../../../src/proxy/providers/sseParser.js';
import { everyByte, seededOffsets, splitAt } from './chunking.js';

function parse(chunks: Buffer[], maxLineBytes?: number): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = createSseParser((event) => events.push(event), maxLineBytes);
  for (const chunk of chunks) parser.push(chunk);
  parser.finish();
  return events;
}

const STREAM = Buffer.from(
  ': keep-alive comment\n' +
    'event: greeting\ndata: héllo wörld 👋\n\n' +
    'data: first line\ndata: second line\n\n' +
    'event:tight\ndata:no space\n\n' +
    'id: 7\nretry: 100\n\n' +
    'data\n\n',
  'utf8',
);

const EXPECTED: SseEvent[] = [
  { event: 'greeting', data: 'héllo wörld 👋' },
  { event: 'message', data: 'first line\nsecond line' },
  { event: 'tight', data: 'no space' },
  { event: 'message', data: '' },
];

describe('createSseParser', () => {
  it('parses fields, comments, multi-line data and the default event name', () => {
    expect(parse([STREAM])).toEqual(EXPECTED);
  });

  it('gives the same events however the bytes are split, mid-line and mid-character included', () => {
    expect(parse(everyByte(STREAM))).toEqual(EXPECTED);
    for (let seed = 1; seed <= 50; seed++) {
      expect(parse(splitAt(STREAM, seededOffsets(seed, STREAM.length, 1 + (seed % 9))))).toEqual(EXPECTED);
    }
  });

  it('accepts CRLF and bare CR line endings, also when CR and LF arrive in different chunks', () => {
    const crlf = Buffer.from('event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r', 'utf8');
    const expected = [
      { event: 'a', data: '1' },
      { event: 'b', data: '2' },
    ];
    expect(parse([crlf])).toEqual(expected);
    expect(parse(everyByte(crlf))).toEqual(expected);
  });

  it('dispatches a last event whose blank line never came', () => {
    expect(parse([Buffer.from('data: {"a":1}\n\ndata: tail')])).toEqual([
      { event: 'message', data: '{"a":1}' },
      { event: 'message', data: 'tail' },
    ]);
  });

  it('drops an over-long line without holding it, and keeps parsing after it', () => {
    const long = `data: ${'x'.repeat(200)}\n\n`;
    const stream = Buffer.from(`${long}data: short\n\n`);
    expect(parse([stream], 64)).toEqual([{ event: 'message', data: 'short' }]);
    expect(parse(everyByte(stream), 64)).toEqual([{ event: 'message', data: 'short' }]);
  });
});
