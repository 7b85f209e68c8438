import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/config/durations.js';

describe('parseDuration', () => {
  it('takes a bare zero, which needs no unit (--restart-sec 0)', () => {
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration(' 00 ')).toBe(0);
    expect(parseDuration('0.0')).toBe(0);
  });

  it('still wants a unit for anything else', () => {
    expect(parseDuration('10')).toBeNull();
    expect(parseDuration('0.5')).toBeNull();
    expect(parseDuration('0s')).toBe(0);
    expect(parseDuration('1m30s')).toBe(90_000);
  });
});

describe('the longest duration', () => {
  it('is written the way parseDuration reads it back exactly', async () => {
    const { maxDurationMs, maxDurationText } = await import('../../../src/config/fields.js');
    expect(maxDurationMs).toBe(2 ** 31 - 1);
    expect(parseDuration(maxDurationText)).toBe(maxDurationMs);
  });
});
