import { describe, expect, it } from 'vitest';
import { remembered } from '../../../src/kernel/remembered.js';

describe('remembered (the request path computes a key’s fingerprint and a model’s family once)', () => {
  it('computes each input once and answers again from memory', () => {
    const computed: string[] = [];
    const upper = remembered(10, (input: string) => {
      computed.push(input);
      return input.toUpperCase();
    });
    expect([upper('a'), upper('b'), upper('a'), upper('a')]).toEqual(['A', 'B', 'A', 'A']);
    expect(computed).toEqual(['a', 'b']);
  });

  it('starts over when full, so that inputs cycling through cannot grow it, and still answers right', () => {
    const computed: string[] = [];
    const length = remembered(2, (input: string) => {
      computed.push(input);
      return input.length;
    });
    expect([length('a'), length('bb'), length('ccc'), length('a')]).toEqual([1, 2, 3, 1]);
    // 'ccc' found it full: it started over, so 'a' was computed again.
    expect(computed).toEqual(['a', 'bb', 'ccc', 'a']);
  });
});
