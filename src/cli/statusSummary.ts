import kleur from 'kleur';
import type { FleetProcess, ProcessStatus } from '../core/processLiveness.js';
import type { ScopeLine } from '../core/scopeTable.js';
import type { StatusReport } from '../core/statusReport.js';
import { ago, clockTime, count, duration, heading, plural, row } from './textFormat.js';

/** The summary never takes more lines than this, whatever the terminal: the rest is for the shell. */
export const summaryMaxLines = 30;
/** A scope table is never cut below this many rows. */
const minScopeRows = 5;
const workerLinesShown = 4;

export function processLine(status: ProcessStatus, now: number): string {
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

/** One line per worker on the database (every host's), each with the upstream it forwards to. */
function workerLines(report: StatusReport): string[] {
  const workers = report.processes.filter((process) => process.role === 'worker');
  if (workers.length === 0) return [row('worker', processLine(report.worker, report.generatedAt))];
  const where = (process: FleetProcess): string =>
    process.host === null ? '' : kleur.dim(` on ${process.host}${process.thisHost ? ' (this host)' : ''}`);
  const lines = workers.slice(0, workerLinesShown).map((process, index) => {
    const upstream = process.upstream === null ? '' : ` → ${process.upstream}`;
    return row(
      index === 0 ? (workers.length === 1 ? 'worker' : 'workers') : '',
      `${processLine(process, report.generatedAt)}${upstream}${where(process)}`,
    );
  });
  if (workers.length > workerLinesShown)
    lines.push(row('', kleur.dim(`… and ${workers.length - workerLinesShown} more (status --json lists every one)`)));
  return lines;
}

function supervisorLine(report: StatusReport): string {
  const supervisors = report.processes.filter((process) => process.role === 'supervisor');
  const others = supervisors.length > 1 ? kleur.dim(` · ${supervisors.length} supervisors on the database`) : '';
  return row('supervisor', processLine(report.supervisor, report.generatedAt) + others);
}

function upstreamLine(report: StatusReport): string {
  if (report.upstreams.length > 0 && report.processes.some((process) => process.role === 'worker' && process.running))
    return row('upstream', report.upstreams.join(' · '));
  const { url, from } = report.upstream;
  if (url === null) return row('upstream', kleur.dim('unknown (no worker has run; set --upstream)'));
  return row('upstream', `${url}  ${kleur.dim(`(from ${from === 'configuration' ? 'the configuration' : 'the last worker'})`)}`);
}

function queueLine(report: StatusReport): string {
  const { queue } = report;
  if (queue.length === 0) return row('queue', kleur.dim('nobody waits'));
  const perScope = queue.scopes
    .slice(0, 3)
    .map((entry) => `${scopeName(report, entry.scope)} ${entry.length} (${duration(entry.oldestWaitMs)})`);
  const more = queue.scopes.length > 3 ? ` · ${queue.scopes.length - 3} more scopes` : '';
  return row(
    'queue',
    `${kleur.yellow(`${plural(queue.length, 'request')} waiting`)} · oldest ${duration(queue.oldestWaitMs)} · ${perScope.join(' · ')}${more}`,
  );
}

function reservationLine(report: StatusReport): string {
  if (report.reservations.length === 0) return row('in flight', kleur.dim('nothing reserved'));
  const largest = report.reservations
    .slice(0, 3)
    .map((held) => `${count(held.inputTokens + held.outputTokens)} tokens ${held.label} (${duration(held.ageMs)})`);
  return row('in flight', `largest reservations: ${largest.join(' · ')}`);
}

function scopeName(report: StatusReport, scope: string): string {
  return report.scopes.find((line) => line.scope === scope)?.label ?? scope;
}

const columns = { label: 32, state: 15, tokens: 19, requests: 11, left: 15, queue: 12, errors: 4 };

function stateText(line: ScopeLine): string {
  const width = columns.state;
  if (line.quotaExhausted) return kleur.red('quota-exhausted'.padEnd(width));
  if (line.phase === 'cooling') return kleur.red(`cooling ${duration(line.cooldownRemainingMs)}`.padEnd(width));
  if (line.phase === 'half-open') return kleur.yellow('half-open'.padEnd(width));
  if (line.trouble === 'queued') return kleur.yellow('queued'.padEnd(width));
  return kleur.green('ok'.padEnd(width));
}

function clip(text: string, width: number): string {
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, width - 1)}…`;
}

function scopeRow(line: ScopeLine): string {
  const tokens = `${count(line.windowTokens)}/${count(line.tokenBudget)}`;
  const requests = `${count(line.windowRequests)}/${count(line.requestBudget)}`;
  const left = `${count(line.reportedTokensRemaining)}/${count(line.reportedRequestsRemaining)}`;
  const queue = line.queued === 0 ? '—' : `${line.queued} · ${duration(line.oldestWaitMs)}`;
  return `${clip(line.label, columns.label)} ${stateText(line)} ${tokens.padStart(columns.tokens)} ${requests.padStart(columns.requests)} ${left.padStart(columns.left)} ${queue.padStart(columns.queue)} ${String(line.consecutive429s).padStart(columns.errors)}`;
}

function troubleCounts(scopes: readonly ScopeLine[]): string {
  const counts = { cooling: 0, 'quota-exhausted': 0, 'half-open': 0, queued: 0 };
  for (const line of scopes) if (line.trouble !== null) counts[line.trouble] += 1;
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([what, n]) => `${n} ${what}`);
  return parts.length === 0 ? 'none in trouble' : parts.join(' · ');
}

function scopeTableLines(report: StatusReport, rows: number): string[] {
  const { scopes } = report;
  const header = `${'scope'.padEnd(columns.label)} ${'state'.padEnd(columns.state)} ${'tokens/budget'.padStart(columns.tokens)} ${'req/budget'.padStart(columns.requests)} ${'left t/r'.padStart(columns.left)} ${'queue'.padStart(columns.queue)} ${'429s'.padStart(columns.errors)}`;
  const shown = scopes.length > rows ? scopes.slice(0, rows - 1) : scopes;
  const hidden = scopes.slice(shown.length);
  const more =
    hidden.length === 0
      ? []
      : [kleur.dim(`… and ${hidden.length} more (${troubleCounts(hidden)}): status --json lists every one, --scope shows one`)];
  const title = heading(
    `Scopes  ${kleur.dim(`${plural(scopes.length, 'active scope')} · ${troubleCounts(scopes)} · trouble first, then the busiest`)}`,
  );
  return [title, kleur.dim(header), ...shown.map(scopeRow), ...more];
}

/**
 * The first screen of `status`: who runs, where the traffic goes, who waits and what is held,
 * then the scopes, trouble first. With `maxLines`, the table is cut so that the whole fits.
 */
export function renderSummary(report: StatusReport, maxLines: number | null): string[] {
  const top = [
    `${heading('ratewarden status')}  ${kleur.dim(`${report.database} · ${clockTime(report.generatedAt)}`)}`,
    ...workerLines(report),
    supervisorLine(report),
    upstreamLine(report),
    queueLine(report),
    reservationLine(report),
    '',
  ];
  // The title and header of the table take two lines; the rest is the table's.
  const rows = maxLines === null ? 20 : Math.max(minScopeRows, maxLines - top.length - 2);
  return [...top, ...scopeTableLines(report, rows)];
}
