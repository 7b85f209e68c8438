import { describe, expect, it } from 'vitest';
import { learnedOutput, minOutputSamples, outputReservation } from '../../../src/core/outputEstimate.js';

const settings = { defaultMaxTokens: 4_096, outputReserveMax: null };
const generating = (declaredMaxTokens: number | null) => ({ generates: true, declaredMaxTokens });

describe('the learned output reservation', () => {
  it('is the 95th percentile of what the model really generated', () => {
    const samples = Array.from({ length: 100 }, (_, index) => index + 1);
    expect(learnedOutput(samples)).toBe(95);
    expect(learnedOutput([...samples].reverse())).toBe(95);
  });

  it('says nothing from too few samples', () => {
    expect(learnedOutput(Array.from({ length: minOutputSamples - 1 }, () => 300))).toBeNull();
    expect(learnedOutput(Array.from({ length: minOutputSamples }, () => 300))).toBe(300);
  });

  it("replaces Claude Code's max_tokens 128 000 once the model's output is known", () => {
    expect(outputReservation(generating(128_000), null, settings)).toBe(128_000);
    expect(outputReservation(generating(128_000), 900, settings)).toBe(900);
  });

  it("is never above the request's own max_tokens", () => {
    expect(outputReservation(generating(200), 900, settings)).toBe(200);
    expect(outputReservation(generating(null), 9_000, settings)).toBe(4_096);
  });

  it('is capped by --output-reserve-max', () => {
    expect(outputReservation(generating(128_000), null, { ...settings, outputReserveMax: 8_192 })).toBe(8_192);
    expect(outputReservation(generating(128_000), 900, { ...settings, outputReserveMax: 8_192 })).toBe(900);
  });

  it('is zero for endpoints that generate nothing', () => {
    expect(outputReservation({ generates: false, declaredMaxTokens: 1_000 }, 900, settings)).toBe(0);
  });
});
