import kleur from 'kleur';
import { formatDuration } from '../kernel/durations.js';

const barWidth = 24;

/** `12,345`, or a dash for "none". */
export function count(value: number | null): string {
  return value === null ? '—' : value.toLocaleString('en-US');
}

export function plural(value: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count(value)} ${value === 1 ? singular : pluralForm}`;
}

export function duration(ms: number): string {
  return formatDuration(Math.max(0, ms));
}

export function ago(at: number, now: number): string {
  return `${duration(now - at)} ago`;
}

/** Local wall-clock time, HH:MM:SS. */
export function clockTime(at: number): string {
  return new Date(at).toTimeString().slice(0, 8);
}

/** A usage bar, green below 70 %, yellow below 90 %, red from there; empty when there is no budget. */
export function usageBar(used: number, total: number | null): string {
  if (total === null || total <= 0) return kleur.dim('░'.repeat(barWidth));
  const share = Math.max(0, used) / total;
  const filled = Math.min(barWidth, Math.round(share * barWidth));
  const paint = share >= 0.9 ? kleur.red : share >= 0.7 ? kleur.yellow : kleur.green;
  return paint('█'.repeat(filled)) + kleur.dim('░'.repeat(barWidth - filled));
}

export function share(used: number, total: number | null): string {
  return total === null || total <= 0 ? 'no budget' : `${Math.round((Math.max(0, used) / total) * 100)} %`;
}

/** `label` padded to a column, then the value. */
export function row(label: string, value: string, width = 13): string {
  return `  ${label.padEnd(width)}${value}`;
}

export function heading(text: string): string {
  return kleur.bold(text);
}
