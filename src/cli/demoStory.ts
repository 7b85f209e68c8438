import type { IncidentFigures } from '../sim/incidentMeasures.js';
import type { ReplayResult } from '../sim/replay.js';
import { count } from './textFormat.js';

/** A duration in words a newcomer reads as such: "4 minutes", "90 seconds", "2 minutes 30 seconds". */
export function durationInWords(ms: number): string {
  const seconds = Math.round(ms / 1000);
  const unit = (n: number, name: string): string => `${n} ${name}${n === 1 ? '' : 's'}`;
  if (seconds < 120 && seconds % 60 !== 0) return unit(seconds, 'second');
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  return rest === 0 ? unit(minutes, 'minute') : `${unit(minutes, 'minute')} ${unit(rest, 'second')}`;
}

/** How long the replay takes on the wall clock against the incident time it stands for. */
export function timeLine(result: ReplayResult): string {
  const wall = Math.round(result.options.durationMs / 1000);
  return `${durationInWords(result.options.durationMs * result.timeScale)} of incident time in ${wall} s (one second stands for ${result.timeScale}; the upstream's one-minute window lasts ${Math.round(result.windowMs / 1000)} s)`;
}

/** The three lines before the table: what the incident was, what each column is, that the proxies crash on purpose. */
export function storyLines(result: ReplayResult): string[] {
  const { options } = result;
  const crashes = [
    options.crashEveryMs > 0
      ? `killed (SIGKILL) about every ${durationInWords(options.crashEveryMs * result.timeScale).replace(/^1 /, '')} of incident time`
      : '',
    options.crashAfter429s > 0 ? `whenever they see ${options.crashAfter429s} upstream 429s in a window, as the incident's worker did` : '',
  ].filter((part) => part !== '');
  return [
    'The incident: an API key ran out of its rate limit; the proxy in front of it crashed, came back with its counters empty, believed the whole budget free and hammered the still-exhausted upstream, which crashed it again (20 restarts a minute).',
    'The columns: direct = the same clients calling the upstream themselves, no proxy; amnesia = that old set-up, which forgot its state at every restart and was restarted blindly after 3 s; ratewarden = its defaults (durable state, its own supervisor, cooldowns that follow the upstream, a fair queue).',
    crashes.length > 0
      ? `Both proxies are made to crash on purpose: ${crashes.join(', and ')}; the direct run has nothing to crash. The same load, storms and seed for all three.`
      : 'No crash is injected in this run (--crash-every 0, --crash-after-429s 0); the same load, storms and seed for all three.',
  ];
}

const percent = (share: number): string => `${Math.round(share * 100)} %`;

function pointsText(gap: number): string {
  const points = Math.abs(Math.round(gap * 100));
  if (points === 0) return 'the same';
  return `${points} point${points === 1 ? '' : 's'} ${gap > 0 ? 'more' : 'less'}`;
}

/** What cost ratewarden's clients answers, from its own column: each part only when it happened. */
function costs(ratewarden: IncidentFigures): string[] {
  const { failures, localRefusals } = ratewarden.clients;
  return [
    ratewarden.crashes + ratewarden.crashesAfter429s > 0
      ? `its worker was killed ${ratewarden.crashes + ratewarden.crashesAfter429s} times`
      : '',
    failures.serverError > 0
      ? `${count(failures.serverError)} requests got a 5xx while the worker was away (restarting, or its supervisor gave up)`
      : '',
    failures.connectionLost > 0 ? `${count(failures.connectionLost)} streams were cut by the kills` : '',
    failures.connectionRefused > 0 ? `${count(failures.connectionRefused)} connections were refused` : '',
    (localRefusals.cooldown ?? 0) > 0 ? `${count(localRefusals.cooldown ?? 0)} requests were answered locally during cooldowns` : '',
  ].filter((part) => part !== '');
}

/**
 * What ratewarden changed against no proxy, good or bad, and why, in one line computed from the
 * figures whichever way they fall; then the amnesia run's loop.
 */
export function summaryLine(result: ReplayResult): string {
  const { direct, amnesia, ratewarden } = result.runs;
  const cooldown =
    ratewarden.forwardedDuringCooldown === 0
      ? 'nothing forwarded during a cooldown'
      : `but ${count(ratewarden.forwardedDuringCooldown ?? 0)} requests forwarded during a cooldown`;
  const gap = ratewarden.goodput - direct.goodput;
  const why = costs(ratewarden);
  const goodputWhy =
    gap < -0.005 && why.length > 0
      ? ` because ${why.join(', ')}`
      : gap >= -0.005
        ? ': it queues what lacks budget instead of letting clients spend their retries on 429s'
        : '';
  const loop =
    amnesia.restartsAfter429s > 0
      ? `The amnesia run loops: ${count(amnesia.upstream429s)} upstream 429s, ${count(amnesia.restartsAfter429s)} restart${amnesia.restartsAfter429s === 1 ? '' : 's'} caused by them, ${percent(amnesia.goodput)} goodput.`
      : `The amnesia run: ${count(amnesia.upstream429s)} upstream 429s, ${percent(amnesia.goodput)} goodput.`;
  return (
    `What ratewarden changed against no proxy: upstream 429s ${count(direct.upstream429s)} → ${count(ratewarden.upstream429s)} ` +
    `(after a 429 it answers locally until the time the upstream announced, then sends one probe; ${cooldown}); ` +
    `goodput ${percent(direct.goodput)} → ${percent(ratewarden.goodput)}, ${pointsText(gap)}${goodputWhy}; ` +
    `client-visible failures ${count(direct.clients.failed)} → ${count(ratewarden.clients.failed)}. ${loop}`
  );
}
