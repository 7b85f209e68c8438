import kleur from 'kleur';
import type { GateReport } from '../core/controller.js';
import type { FleetProcess, ProcessStatus } from '../core/processLiveness.js';
import type { AdjustmentRow, GateSet, StatusReport } from '../core/statusReport.js';
import { renderCalibrationLines } from './calibrationRender.js';
import { limiterPolicyText, policyOriginText, restartPolicyText } from './policyRender.js';
import { ago, clockTime, count, duration, heading, plural, row, share, usageBar } from './textFormat.js';

const gateNames: readonly (keyof GateReport)[] = ['history', 'consumption', 'quiet', 'headroom', 'pace'];

function processLine(status: ProcessStatus, now: number): string {
  const uptime = status.startedAt === null ? '' : ` · up ${duration(now - status.startedAt)}`;
  const beat = status.heartbeatAt === null ? '' : ` · heartbeat ${ago(status.heartbeatAt, now)}`;
  switch (status.state) {
    case 'running':
      return `${kleur.green('● running')}  pid ${status.pid}${status.listen === null ? '' : ` · ${status.listen}`}${beat}${uptime}`;
    case 'not-responding':
      return `${kleur.yellow('● not responding')}  pid ${status.pid} is alive but its heartbeat is stale${beat}`;
    case 'gone':
      return `${kleur.red('○ gone')}  pid ${status.pid} is dead and did not stop cleanly${beat}`;
    case 'silent':
      return `${kleur.yellow('○ silent')}  pid ${status.pid} on another host: its heartbeat is stale (hung, or gone without a clean stop)${beat}`;
    case 'stopped':
      return kleur.dim('○ stopped');
  }
}

function upstreamLine(report: StatusReport): string {
  const { url, from } = report.upstream;
  if (url === null) return kleur.dim('unknown (no worker has run; set --upstream)');
  const origin = { worker: "the worker's heartbeat", configuration: 'the configuration', 'last-worker': 'the last worker', none: '' }[from];
  return `${url}  ${kleur.dim(`(from ${origin})`)}`;
}

function windowLines(report: StatusReport): string[] {
  const { window, budget } = report;
  const tokens = `${count(window.tokensUsed).padStart(9)} / ${count(budget.tokens).padEnd(9)} ${share(window.tokensUsed, budget.tokens)}`;
  const requests = `${count(window.requestsUsed).padStart(9)} / ${count(budget.requests).padEnd(9)} ${share(window.requestsUsed, budget.requests)}`;
  return [
    heading(`Window  ${kleur.dim(`last ${duration(window.lengthMs)}, ${window.tokenMetric} tokens`)}`),
    row('tokens', `${usageBar(window.tokensUsed, budget.tokens)} ${tokens}`),
    row('requests', `${usageBar(window.requestsUsed, budget.requests)} ${requests}`),
    row('refused', `${count(report.refusals.cooldown)} during cooldowns · ${count(report.refusals.budget)} over budget ${kleur.dim('(all time)')}`),
  ];
}

function probeText(report: StatusReport): string {
  const { probe } = report;
  if (!probe.halfOpen) return kleur.dim('none (not half-open)');
  if (probe.inFlight) return kleur.yellow(`probe request #${probe.requestId} in flight for ${duration(probe.ageMs ?? 0)} (timeout ${duration(probe.timeoutMs)})`);
  return kleur.yellow('half-open: the next request goes through as the probe');
}

function cooldownLines(report: StatusReport): string[] {
  const { cooldown } = report;
  const state =
    cooldown.phase === 'cooling'
      ? kleur.red().bold(`COOLING  ${duration(cooldown.remainingMs)} left`) + ` (until ${clockTime(cooldown.until ?? report.generatedAt)}); every request is answered locally with 429`
      : cooldown.phase === 'half-open'
        ? kleur.yellow('HALF-OPEN  the cooldown ended; one probe tests the upstream before traffic resumes')
        : kleur.green('closed  requests are forwarded');
  const last429 = cooldown.last429At === null ? 'no upstream 429 on record' : `last upstream 429 ${ago(cooldown.last429At, report.generatedAt)}`;
  return [
    heading('Cooldown'),
    row('state', state),
    row('backoff', `level ${cooldown.backoffLevel} · ${plural(cooldown.consecutive429s, 'consecutive 429')} · next cooldown ${duration(cooldown.nextCooldownMs)} · ${last429}`),
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
  const verdict = gates.allOpen ? kleur.green('every gate open: the controller may raise it') : kleur.yellow('held: a raise needs every gate open');
  return [
    head(verdict),
    ...gateNames.map((name) => {
      const gate = gates[name];
      return row('', `${''.padEnd(kindWidth)}${gate.open ? kleur.green('✓ open  ') : kleur.red('✗ closed')} ${name.padEnd(12)}${gate.why}`);
    }),
  ];
}

function controllerLines(report: StatusReport): string[] {
  const { budget, controller } = report;
  const configured = `configured ${count(budget.configuredTokens)} tokens / ${count(budget.configuredRequests)} requests`;
  const reported = `upstream reports ${count(budget.reportedTokenLimit)} / ${count(budget.reportedRequestLimit)}`;
  const ceiling = `ceiling ${count(budget.tokenCeiling)} / ${count(budget.requestCeiling)}`;
  return [
    heading('Budget and controller'),
    row('budget', `${count(budget.tokens)} tokens · ${count(budget.requests)} requests per ${duration(report.window.lengthMs)} window`),
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
  const paintFailures = supervisor.failuresInInterval >= supervisor.burstLimit ? kleur.red : supervisor.failuresInInterval > 0 ? kleur.yellow : kleur.green;
  const due = supervisor.restartDueInMs > 0 ? ` · a restart is due in ${duration(supervisor.restartDueInMs)}` : '';
  const lines = [
    heading('Supervisor history'),
    row('failures', `${paintFailures(failures)} · ${plural(supervisor.consecutiveFailures, 'consecutive failure')} · next restart delay ${duration(supervisor.nextRestartDelayMs)}${due}`),
  ];
  if (!supervisor.burstLimitReachable) lines.push(row('', kleur.yellow('with these settings a crash loop never reaches the burst limit: the supervisor would never give up')));
  lines.push(
    row('last exit', exitText(report)),
    row('gave up', supervisor.gaveUp ? kleur.red().bold('YES') + ' — the worker is not restarted; fix the cause, then run "ratewarden reset-restarts"' : kleur.green('no')),
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
      return row(clockTime(event.at), `${step} · ${retry} · window ${count(event.windowTokens)} tokens / ${count(event.windowRequests)} requests`, 11);
    }),
  ];
}

function operatorLines(report: StatusReport): string[] {
  const action = report.lastOperatorAction;
  if (action === null) return [];
  const reason = action.reason === null ? '' : ` — "${action.reason}"`;
  return ['', heading('Last operator action'), row(action.action, `${ago(action.at, report.generatedAt)} by ${action.actor}${reason}`, 17)];
}

/** The human view of `ratewarden status`: one screen, worst news in red. */
/** At most this many scopes in the table; `--json` lists them all. */
const scopeTableRows = 20;

function scopeTableLines(report: StatusReport): string[] {
  const header = `${'scope'.padEnd(34)} ${'state'.padEnd(16)} ${'tokens / budget'.padStart(22)} ${'requests / budget'.padStart(18)} ${'remaining t/r'.padStart(16)} ${'429s'.padStart(4)}`;
  const lines = report.scopes.slice(0, scopeTableRows).map((line) => {
    const state = line.quotaExhausted
      ? kleur.red(`quota-exhausted`.padEnd(16))
      : line.phase === 'cooling' ? kleur.red(`cooling ${duration(line.cooldownRemainingMs)}`.padEnd(16)) : line.phase === 'half-open' ? kleur.yellow('half-open'.padEnd(16)) : kleur.green('ok'.padEnd(16));
    const tokens = `${count(line.windowTokens)} / ${count(line.tokenBudget)}`;
    const requests = `${count(line.windowRequests)} / ${count(line.requestBudget)}`;
    const remaining = `${count(line.reportedTokensRemaining)} / ${count(line.reportedRequestsRemaining)}`;
    return `${(line.name ?? line.scope).padEnd(34)} ${state} ${tokens.padStart(22)} ${requests.padStart(18)} ${remaining.padStart(16)} ${String(line.consecutive429s).padStart(4)}`;
  });
  const more = report.scopes.length > scopeTableRows ? [kleur.dim(`… and ${report.scopes.length - scopeTableRows} more (status --json lists them all)`)] : [];
  return [heading(`Scopes  ${kleur.dim(`${plural(report.scopes.length, 'active scope')}, busiest first`)}`), kleur.dim(header), ...lines, ...more];
}

/** On a store shared by hosts, the worker and supervisor lines are this host's. */
function thisHostNote(report: StatusReport): string {
  return report.host === null ? '' : kleur.dim(`  (on this host, ${report.host})`);
}

/** Every host's processes, on a store shared by hosts; nothing on a store of one host. */
function fleetLines(report: StatusReport): string[] {
  if (report.host === null) return [];
  const hosts = new Set(report.processes.map((process) => process.host));
  const label = (process: FleetProcess): string => `${process.host ?? ''}${process.thisHost ? ' (this host)' : ''}`;
  const width = Math.max(13, ...report.processes.map((process) => label(process).length + 2));
  const lines = report.processes.map((process) => row(label(process), `${process.role.padEnd(11)}${processLine(process, report.generatedAt)}`, width));
  return [
    '',
    heading(`Fleet  ${kleur.dim(`${plural(report.processes.length, 'process', 'processes')} on ${plural(hosts.size, 'host')}, from their heartbeats; this host is ${report.host}`)}`),
    ...(lines.length > 0 ? lines : [row('', kleur.dim('no process has a heartbeat'))]),
  ];
}

export function renderStatus(report: StatusReport): string {
  return [
    `${heading('ratewarden status')}  ${kleur.dim(`${report.database} · ${clockTime(report.generatedAt)}`)}`,
    row('upstream', upstreamLine(report)),
    row('worker', processLine(report.worker, report.generatedAt) + thisHostNote(report)),
    row('supervisor', processLine(report.supervisor, report.generatedAt) + thisHostNote(report)),
    row('policy', `${limiterPolicyText(report.policy.worker.values)}  ${policyOriginText(report.policy.worker, 'worker', report.generatedAt)}`),
    row('restarts', `${restartPolicyText(report.policy.supervisor.values)}  ${policyOriginText(report.policy.supervisor, 'supervisor', report.generatedAt)}`),
    ...fleetLines(report),
    '',
    ...scopeTableLines(report),
    '',
    heading(`Scope ${report.scope}`) + kleur.dim(report.scopes.length > 1 ? '  (in detail below; --scope chooses another)' : ''),
    ...windowLines(report),
    '',
    ...cooldownLines(report),
    '',
    ...controllerLines(report),
    '',
    heading('Calibration'),
    ...renderCalibrationLines(report.calibration),
    '',
    ...supervisorLines(report),
    '',
    ...recent429Lines(report),
    ...operatorLines(report),
  ].join('\n');
}
