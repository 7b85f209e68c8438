import kleur from 'kleur';
import type { GateReport } from '../core/controller.js';
import type { AdjustmentRow, GateSet, StatusReport } from '../core/statusReport.js';
import { renderCalibrationLines } from './calibrationRender.js';
import { limiterPolicyText, policyOriginText, restartPolicyText } from './policyRender.js';
import { renderSummary, summaryMaxLines } from './statusSummary.js';
import { ago, clockTime, count, duration, heading, plural, row, share, usageBar } from './textFormat.js';

const gateNames: readonly (keyof GateReport)[] = ['history', 'consumption', 'quiet', 'headroom', 'pace'];

function windowLines(report: StatusReport): string[] {
  const { window, budget } = report;
  const tokens = `${count(window.tokensUsed).padStart(9)} / ${count(budget.tokens).padEnd(9)} ${share(window.tokensUsed, budget.tokens)}`;
  const requests = `${count(window.requestsUsed).padStart(9)} / ${count(budget.requests).padEnd(9)} ${share(window.requestsUsed, budget.requests)}`;
  return [
    heading(`Window  ${kleur.dim(`last ${duration(window.lengthMs)}, ${window.tokenMetric} tokens`)}`),
    row('tokens', `${usageBar(window.tokensUsed, budget.tokens)} ${tokens}`),
    row('requests', `${usageBar(window.requestsUsed, budget.requests)} ${requests}`),
    row(
      'refused',
      `${count(report.refusals.cooldown)} during cooldowns · ${count(report.refusals.budget)} over budget ${kleur.dim('(all time)')}`,
    ),
  ];
}

function probeText(report: StatusReport): string {
  const { probe } = report;
  if (!probe.halfOpen) return kleur.dim('none (not half-open)');
  if (probe.inFlight)
    return kleur.yellow(
      `probe request #${probe.requestId} in flight for ${duration(probe.ageMs ?? 0)} (timeout ${duration(probe.timeoutMs)})`,
    );
  return kleur.yellow('half-open: the next request goes through as the probe');
}

function cooldownLines(report: StatusReport): string[] {
  const { cooldown } = report;
  const state =
    cooldown.phase === 'cooling'
      ? kleur.red().bold(`COOLING  ${duration(cooldown.remainingMs)} left`) +
        ` (until ${clockTime(cooldown.until ?? report.generatedAt)}); every request is answered locally with 429`
      : cooldown.phase === 'half-open'
        ? kleur.yellow('HALF-OPEN  the cooldown ended; one probe tests the upstream before traffic resumes')
        : kleur.green('closed  requests are forwarded');
  const last429 =
    cooldown.last429At === null ? 'no upstream 429 on record' : `last upstream 429 ${ago(cooldown.last429At, report.generatedAt)}`;
  return [
    heading('Cooldown'),
    row('state', state),
    row(
      'backoff',
      `level ${cooldown.backoffLevel} · ${plural(cooldown.consecutive429s, 'consecutive 429')} · next cooldown ${duration(cooldown.nextCooldownMs)} · ${last429}`,
    ),
    row('probe', probeText(report)),
  ];
}

function adjustmentText(adjustment: AdjustmentRow | null, now: number): string {
  if (adjustment === null) return kleur.dim('none yet');
  return `${count(adjustment.from)} → ${count(adjustment.to)} ${adjustment.reason} ${ago(adjustment.at, now)} — ${adjustment.detail}`;
}

const kindWidth = 10;

function gateLines(label: string, kind: string, gates: GateSet, budget: number | null): string[] {
  const head = (text: string): string => row(label, `${kind.padEnd(kindWidth)}${text}`);
  if (budget === null) return [head(kleur.dim('no budget in force: nothing to raise'))];
  const verdict = gates.allOpen
    ? kleur.green('every gate open: the controller may raise it')
    : kleur.yellow('held: a raise needs every gate open');
  return [
    head(verdict),
    ...gateNames.map((name) => {
      const gate = gates[name];
      return row('', `${''.padEnd(kindWidth)}${gate.open ? kleur.green('✓ open  ') : kleur.red('✗ closed')} ${name.padEnd(12)}${gate.why}`);
    }),
  ];
}

/** A cut that has not healed: the budget against known-good, and the cut's why. */
function cutLines(cuts: StatusReport['budget']['cuts'], now: number): string[] {
  return (['tokens', 'requests'] as const).flatMap((kind) => {
    const cut = cuts[kind];
    if (cut === null) return [];
    const why = cut.cut === null ? '' : ` — ${ago(cut.cut.at, now)}: ${cut.cut.detail}`;
    return [
      row(
        '',
        kleur.yellow(
          `${kind} cut to ${count(cut.budget)}, known-good ${count(cut.knownGood)}; heals at the next fresh report with room after a successful probe${why}`,
        ),
      ),
    ];
  });
}

function controllerLines(report: StatusReport): string[] {
  const { budget, controller } = report;
  const configured = `configured ${count(budget.configuredTokens)} tokens / ${count(budget.configuredRequests)} requests`;
  const reported = `upstream reports ${count(budget.reportedTokenLimit)} / ${count(budget.reportedRequestLimit)}`;
  const ceiling = `ceiling ${count(budget.tokenCeiling)} / ${count(budget.requestCeiling)}`;
  return [
    heading('Budget and controller'),
    row('budget', `${count(budget.tokens)} tokens · ${count(budget.requests)} requests per ${duration(report.window.lengthMs)} window`),
    ...cutLines(budget.cuts, report.generatedAt),
    row('limits', `${configured} · ${reported} · ${ceiling}`),
    row('last change', `${'tokens'.padEnd(kindWidth)}${adjustmentText(controller.lastAdjustmentByKind.tokens, report.generatedAt)}`),
    row('', `${'requests'.padEnd(kindWidth)}${adjustmentText(controller.lastAdjustmentByKind.requests, report.generatedAt)}`),
    ...gateLines('gates', 'tokens', controller.gates.tokens, budget.tokens),
    ...gateLines('', 'requests', controller.gates.requests, budget.requests),
  ];
}

function exitText(report: StatusReport): string {
  const exit = report.supervisor.lastExit;
  if (exit === null) return kleur.dim('none recorded');
  const worker = `worker${exit.workerPid === null ? '' : ` ${exit.workerPid}`}`;
  if (!exit.failed) return `${ago(exit.at, report.generatedAt)}: ${worker} exited cleanly (code 0, not restarted)`;
  const detail = exit.detail ?? (exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.exitCode}`);
  return `${ago(exit.at, report.generatedAt)}: ${worker} failed${exit.cause === null ? '' : ` (${exit.cause})`} — ${detail}`;
}

function supervisorLines(report: StatusReport): string[] {
  const { supervisor } = report;
  const failures = `${supervisor.failuresInInterval} of ${supervisor.burstLimit} failures in the last ${duration(supervisor.intervalMs)}`;
  const paintFailures =
    supervisor.failuresInInterval >= supervisor.burstLimit ? kleur.red : supervisor.failuresInInterval > 0 ? kleur.yellow : kleur.green;
  const due = supervisor.restartDueInMs > 0 ? ` · a restart is due in ${duration(supervisor.restartDueInMs)}` : '';
  const lines = [
    heading('Supervisor history'),
    row(
      'failures',
      `${paintFailures(failures)} · ${plural(supervisor.consecutiveFailures, 'consecutive failure')} · next restart delay ${duration(supervisor.nextRestartDelayMs)}${due}`,
    ),
  ];
  if (!supervisor.burstLimitReachable)
    lines.push(row('', kleur.yellow('with these settings a crash loop never reaches the burst limit: the supervisor would never give up')));
  lines.push(
    row('last exit', exitText(report)),
    row(
      'gave up',
      supervisor.gaveUp
        ? kleur.red().bold('YES') + ' — the worker is not restarted; fix the cause, then run "ratewarden reset-restarts"'
        : kleur.green('no'),
    ),
  );
  return lines;
}

function recent429Lines(report: StatusReport): string[] {
  if (report.recent429s.length === 0) return [heading('Recent upstream 429s'), row('', kleur.dim('none'))];
  return [
    heading('Recent upstream 429s'),
    ...report.recent429s.map((event) => {
      const retry = event.retryAfterMs === null ? 'no retry-after' : `retry-after ${duration(event.retryAfterMs)}`;
      const step = event.escalated ? `cooldown ${duration(event.cooldownMs)}, level ${event.backoffLevel}` : 'same incident, no escalation';
      return row(
        clockTime(event.at),
        `${step} · ${retry} · window ${count(event.windowTokens)} tokens / ${count(event.windowRequests)} requests`,
        11,
      );
    }),
  ];
}

function operatorLines(report: StatusReport): string[] {
  const action = report.lastOperatorAction;
  if (action === null) return [];
  const reason = action.reason === null ? '' : ` — "${action.reason}"`;
  return ['', heading('Last operator action'), row(action.action, `${ago(action.at, report.generatedAt)} by ${action.actor}${reason}`, 17)];
}

export interface StatusLayout {
  /** The terminal's rows (or LINES); null when the output is not a terminal. */
  height: number | null;
  /** Whether the chosen scope's detail follows the summary. */
  detail: boolean;
}

/** How many lines the summary may take on a terminal of `height` rows. */
export function summaryLines(height: number | null): number | null {
  return height === null ? null : Math.min(summaryMaxLines, height - 1);
}

function detailLines(report: StatusReport): string[] {
  return [
    heading(`Scope ${report.scopes.find((line) => line.scope === report.scope)?.label ?? report.scope}`) +
      kleur.dim(`  ${report.scope}${report.scopes.length > 1 ? ' (--scope chooses another)' : ''}`),
    ...windowLines(report),
    '',
    ...cooldownLines(report),
    '',
    ...controllerLines(report),
    '',
    heading('Calibration'),
    ...renderCalibrationLines(report.calibration),
    '',
    row(
      'policy',
      `${limiterPolicyText(report.policy.worker.values)}  ${policyOriginText(report.policy.worker, 'worker', report.generatedAt)}`,
    ),
    row(
      'restarts',
      `${restartPolicyText(report.policy.supervisor.values)}  ${policyOriginText(report.policy.supervisor, 'supervisor', report.generatedAt)}`,
    ),
    '',
    ...supervisorLines(report),
    '',
    ...recent429Lines(report),
    ...operatorLines(report),
  ];
}

/**
 * The human view of `ratewarden status`: the summary (fitted to a terminal's height), then, when
 * asked for or when the output is not a terminal, one scope in detail; worst news in red.
 */
export function renderStatus(report: StatusReport, layout: StatusLayout = { height: null, detail: true }): string {
  const fit = summaryLines(layout.height);
  // Without the detail, one line is left for the hint that says how to get it.
  const summary = renderSummary(report, fit === null || layout.detail ? fit : fit - 1);
  if (!layout.detail)
    return [...summary, kleur.dim(`"status --scope SCOPE" shows one scope in detail; --json shows everything`)].join('\n');
  return [...summary, '', ...detailLines(report)].join('\n');
}
