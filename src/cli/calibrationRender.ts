import kleur from 'kleur';
import type { CalibrationReport } from '../core/calibrationReport.js';
import { count, plural, row } from './textFormat.js';

/** Samples by kind, the zero-token ones, and the estimate with what it rests on. */
export function renderCalibrationLines(report: CalibrationReport): string[] {
  const kinds = report.byKind.map((kind) => {
    const range =
      kind.medianTokens === null ? '' : ` (median ${count(kind.medianTokens)}, ${count(kind.minTokens)}–${count(kind.maxTokens)} tokens)`;
    return row('', `${kind.kind.padEnd(15)}${String(kind.count).padStart(6)}${range}`);
  });
  const zero =
    report.zeroTokenSamples === 0
      ? kleur.green('0 with zero tokens')
      : kleur.yellow(
          `${plural(report.zeroTokenSamples, 'sample')} with zero tokens: no signal; remove with "ratewarden calibrate --prune-zero"`,
        );
  const { estimate } = report;
  const limit =
    estimate.basis === 'none'
      ? kleur.dim('none')
      : `${count(estimate.tokens)} tokens${estimate.requests === null ? '' : ` · ${count(estimate.requests)} requests`}${estimate.basis === 'lower-bound' ? ' (at least)' : ''}`;
  return [
    row('samples', `${plural(report.samples, 'sample')} · ${zero}`),
    ...kinds,
    row('estimate', `${limit}  ${kleur.dim(`basis ${estimate.basis}: ${estimate.explanation}`)}`),
  ];
}
