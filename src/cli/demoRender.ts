import kleur from 'kleur';
import { formatDuration } from '../kernel/durations.js';
import type { BudgetPoint, IncidentFigures } from '../sim/incidentMeasures.js';
import type { RunProgress } from '../sim/incidentRun.js';
import { setupNames, type SetupName } from '../sim/incidentScenario.js';
import type { ReplayResult } from '../sim/replay.js';
import { storyLines, summaryLine, timeLine } from './demoStory.js';
import { count } from './textFormat.js';

const progressBarWidth = 20;
const sparklineWidth = 24;
const blocks = '▁▂▃▄▅▆▇█';

function percent(share: number | null): string {
  return share === null ? '—' : `${Math.round(share * 100)} %`;
}

function progressBar(share: number): string {
  const filled = Math.max(0, Math.min(progressBarWidth, Math.round(share * progressBarWidth)));
  return `${'█'.repeat(filled)}${kleur.dim('░'.repeat(progressBarWidth - filled))}`;
}

export function progressLine(progress: RunProgress): string {
  const name = progress.setup.padEnd(11);
  if (progress.phase === 'starting')
    return `${name}${progress.setup === 'direct' ? 'starting the simulated upstream (no proxy)…' : 'starting the proxy…'}`;
  const { load } = progress;
  const local = Object.values(load.localRefusals).reduce((sum, value) => sum + value, 0);
  const phase = progress.phase === 'stopping' ? ' stopping…' : progress.phase === 'done' ? ' done' : '';
  return (
    `${name}${progressBar(progress.elapsedMs / progress.durationMs)} ${formatDuration(progress.elapsedMs).padStart(5)}  ` +
    `answered ${count(load.ok)}  upstream 429 ${count(progress.upstream429s)}  local 429 ${count(local)}  ` +
    `crashes ${progress.crashes}  restarts ${progress.restarts}${phase}`
  );
}

/**
 * Live progress, one line per run: redrawn in place on a terminal, otherwise a plain line when a
 * run starts, at each quarter, and when it is done.
 */
export class ProgressDisplay {
  private readonly latest = new Map<SetupName, RunProgress>();
  private readonly reported = new Map<SetupName, string>();
  private drawnLines = 0;
  private lastDraw = 0;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(progress: RunProgress): void {
    this.latest.set(progress.setup, progress);
    if (this.stream.isTTY === true) this.redraw(progress.phase === 'done');
    else this.plain(progress);
  }

  /** Leaves the final lines on screen. */
  finish(): void {
    if (this.stream.isTTY === true) this.redraw(true);
  }

  private redraw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const lines = setupNames.flatMap((setup) => {
      const progress = this.latest.get(setup);
      return progress === undefined ? [] : [progressLine(progress)];
    });
    const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F` : '';
    this.stream.write(`${up}${lines.map((line) => `\x1b[2K${line}`).join('\n')}\n`);
    this.drawnLines = lines.length;
  }

  private plain(progress: RunProgress): void {
    const quarter = progress.phase === 'running' ? `${Math.floor((progress.elapsedMs / progress.durationMs) * 4)}` : progress.phase;
    if (this.reported.get(progress.setup) === quarter) return;
    this.reported.set(progress.setup, quarter);
    this.stream.write(`${progressLine(progress)}\n`);
  }
}

/** The token budget over the run as a sparkline of its share of the upstream's limit; `·` = no budget. */
export function sparkline(points: readonly BudgetPoint[], durationMs: number, tokenLimit: number, width = sparklineWidth): string {
  let text = '';
  for (let column = 0; column < width; column++) {
    const at = ((column + 0.5) * durationMs) / width;
    const inForce = points.filter((point) => point.at <= at).at(-1);
    if (inForce === undefined || inForce.tokens === null) {
      text += '·';
      continue;
    }
    const index = Math.min(blocks.length - 1, Math.floor((inForce.tokens / tokenLimit) * blocks.length));
    text += blocks[Math.max(0, index)];
  }
  return text;
}

function budgetSummary(figures: IncidentFigures): string {
  const last = figures.budget.at(-1)?.tokens ?? null;
  const parts = [
    figures.budgetResets > 0 ? `forgotten ${figures.budgetResets}×` : '',
    figures.budgetCuts > 0 ? `${figures.budgetCuts} cut${figures.budgetCuts === 1 ? '' : 's'}` : '',
    figures.budgetRaises > 0 ? `${figures.budgetRaises} raise${figures.budgetRaises === 1 ? '' : 's'}` : '',
    `ends at ${last === null ? 'none' : count(last)}`,
  ];
  return parts.filter((part) => part !== '').join(', ');
}

type Row = [label: string, cell: (figures: IncidentFigures, result: ReplayResult) => string];

const noProxy = '— no proxy';

function failures(figures: IncidentFigures): number {
  return figures.clients.failed;
}

const rows: Row[] = [
  ['upstream 429s', (figures) => count(figures.upstream429s)],
  ['requests sent inside an announced Retry-After', (figures) => count(figures.sentInsideRetryAfter)],
  [
    'requests forwarded during an active cooldown',
    (figures) => (figures.forwardedDuringCooldown === null ? noProxy : count(figures.forwardedDuringCooldown)),
  ],
  [
    'restarts (caused by 429s)',
    (figures) => (figures.setup === 'direct' ? noProxy : `${count(figures.restarts)} (${count(figures.restartsAfter429s)})`),
  ],
  [
    'crashes in a cooldown: the cooldown survived',
    (figures) => (figures.setup === 'direct' ? noProxy : `${figures.cooldownsSurvivingCrash} of ${figures.crashesDuringCooldown}`),
  ],
  ['goodput: tokens served / upstream capacity', (figures) => percent(figures.goodput)],
  ['client-visible failures', (figures) => count(failures(figures))],
  ['  rate-limited after retries', (figures) => count(figures.clients.failures.rateLimited)],
  ['  connection refused', (figures) => count(figures.clients.failures.connectionRefused)],
  ['  connection reset or cut short', (figures) => count(figures.clients.failures.connectionLost)],
  ['  5xx', (figures) => count(figures.clients.failures.serverError)],
  ['zero-token samples recorded', (figures) => (figures.setup === 'direct' ? noProxy : count(figures.zeroTokenSamples))],
  [
    'token budget over the run',
    (figures, result) => (figures.setup === 'direct' ? noProxy : sparkline(figures.budget, result.options.durationMs, result.tokenLimit)),
  ],
  ['', (figures) => (figures.setup === 'direct' ? '' : budgetSummary(figures))],
];

export function renderReplay(result: ReplayResult): string {
  const { options } = result;
  const real = (ms: number): string => formatDuration(ms * result.timeScale);
  const tenant =
    options.otherTenantShare > 0
      ? `a second tenant drawing ${Math.round(options.otherTenantShare * 100)} % of the key`
      : 'no second tenant';
  const header = [
    kleur.bold('ratewarden demo: the incident, replayed three ways'),
    ...storyLines(result),
    '',
    kleur.dim(
      `${timeLine(result)}, ` +
        `seed ${options.seed}, ${options.clients} ${result.clients} clients, a ${options.limitShape} of ${count(result.tokenLimit)} tokens, ` +
        `${options.crashEveryMs > 0 ? `a crash every ~${real(options.crashEveryMs)}` : 'no scheduled crash'}, ${options.crashAfter429s > 0 ? `a crash after ${options.crashAfter429s} upstream 429s in a window` : 'no crash after 429s'}, ` +
        `${tenant}, ${options.stormEveryMs > 0 ? `a storm every ~${real(options.stormEveryMs)}` : 'no storm'}`,
    ),
    '',
  ];
  const cells = rows.map(([label, cell]) => [label, ...setupNames.map((setup) => cell(result.runs[setup], result))] as const);
  const labelWidth = Math.max(...cells.map(([label]) => label.length)) + 2;
  const widths = setupNames.map((setup, column) =>
    Math.max(14, setup.length + 2, ...cells.map(([, ...values]) => (values[column] ?? '').length + 2)),
  );
  const titles = `${''.padEnd(labelWidth)}${setupNames.map((setup, column) => kleur.bold(setup.padEnd(column + 1 < setupNames.length ? (widths[column] ?? 0) : 0))).join('')}`;
  const lines = cells.map(([label, ...values]) =>
    `${label.padEnd(labelWidth)}${values.map((value, column) => value.padEnd(widths[column] ?? 0)).join('')}`.trimEnd(),
  );
  const endings = setupNames.flatMap((setup) => {
    const endedBy = result.runs[setup].endedBy;
    return endedBy === null ? [] : [kleur.yellow(`${setup}: ${endedBy}`)];
  });
  return [...header, titles, ...lines, '', summaryLine(result), ...(endings.length > 0 ? ['', ...endings] : [])].join('\n');
}
