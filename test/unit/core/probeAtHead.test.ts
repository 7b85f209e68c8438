import { describe, expect, it } from 'vitest';
import { decideAdmission } from '../../../src/core/admission.js';
import { judgeProbeAtHead } from '../../../src/core/probeAtHead.js';
import { afterSettle } from '../../../src/core/settlement.js';
import type { LimiterState } from '../../../src/core/types.js';
import { policyWith, stateWith } from '../../helpers/limiterFixtures.js';

const end = 1_700_000_000_000;
const policy = policyWith({ probeTimeoutMs: 60_000 });
const estimate = { inputTokens: 10, outputTokens: 10 };
const probing: LimiterState = stateWith({
  consecutive429s: 2,
  backoffLevel: 2,
  cooldownStartedAt: end - 60_000,
  cooldownUntil: end,
  probeRequestId: 7,
  probeStartedAt: end,
});

describe('the half-open probe, judged at its head', () => {
  it('a 2xx head closes the breaker at once: the others go while its body still streams, and its settle changes nothing more', () => {
    expect(decideAdmission(probing, [], estimate, end + 500, policy)).toMatchObject({ kind: 'reject', reason: 'probe' });
    const judged = judgeProbeAtHead(probing, { id: 7, probe: true }, 200, end + 500);
    expect(judged).toMatchObject({
      consecutive429s: 0,
      backoffLevel: 0,
      cooldownUntil: null,
      cooldownStartedAt: null,
      probeRequestId: null,
      lastProbeSuccessAt: end + 500,
    });
    expect(decideAdmission(judged, [], estimate, end + 501, policy)).toMatchObject({ kind: 'admit', probe: false });
    // The stream ends (or breaks) later: the breaker stays closed.
    expect(afterSettle(judged, { id: 7, admittedAt: end, probe: true, estimate }, 'aborted', null, end + 40_000)).toEqual(judged);
  });

  it('another status but 429 proves nothing: the next request probes', () => {
    const judged = judgeProbeAtHead(probing, { id: 7, probe: true }, 503, end + 500);
    expect(judged).toMatchObject({ consecutive429s: 2, cooldownUntil: end, probeRequestId: null, probeStartedAt: null });
    expect(decideAdmission(judged, [], estimate, end + 501, policy)).toMatchObject({ kind: 'admit', probe: true });
  });

  it('a 429 head is left to the upstream 429 path; a request that is not the current probe changes nothing', () => {
    expect(judgeProbeAtHead(probing, { id: 7, probe: true }, 429, end + 500)).toBe(probing);
    expect(judgeProbeAtHead(probing, { id: 6, probe: true }, 200, end + 500)).toBe(probing);
    expect(judgeProbeAtHead(probing, { id: 7, probe: false }, 200, end + 500)).toBe(probing);
  });

  it('a request refused while the probe is out is told the longest it can wait, never a constant', () => {
    const early = decideAdmission(probing, [], estimate, end + 1_000, policy);
    const late = decideAdmission(probing, [], estimate, end + 45_000, policy);
    expect(early).toMatchObject({ reason: 'probe', retryAfterMs: 59_000 });
    expect(late).toMatchObject({ reason: 'probe', retryAfterMs: 15_000 });
  });
});
