/*
 * The incident-replay benchmark: `ratewarden demo`'s three runs (no proxy, the amnesia setup,
 * ratewarden) over longer runs, several seeds and three scenarios, with the official
 * @anthropic-ai/sdk as the clients at its default retry settings. Prints a markdown table for
 * the README's "Results" heading and checks the targets of the incident-replay issue.
 *
 *   npm run bench:replay                                  # seeds 1,2,3; 60 s (10 real minutes) per run
 *   npm run bench:replay -- --seeds 1,2 --duration 30s --clients 16
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/config/durations.js';
import type { IncidentFigures } from '../src/sim/incidentMeasures.js';
import { defaultReplayOptions, scaled, timeScale, upstreamShape, type ReplayOptions, type SetupName } from '../src/sim/incidentScenario.js';
import { runReplay, type ReplayResult } from '../src/sim/replay.js';
import { startSdkLoad } from './sdkLoad.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1,2,3' },
    duration: { type: 'string', default: '60s' },
    clients: { type: 'string', default: '16' },
    scenarios: { type: 'string', default: 'steady,crashes,tenant+storms' },
  },
});
const seeds = values.seeds.split(',').map((seed) => Number(seed.trim()));
const durationMs = parseDuration(values.duration);
const clients = Number(values.clients);
if (durationMs === null || seeds.some((seed) => !Number.isSafeInteger(seed) || seed < 0) || !Number.isSafeInteger(clients) || clients < 1) {
  process.stderr.write(
    'bench:replay: --seeds takes whole numbers such as 1,2,3, --duration a duration such as 60s, --clients a whole number\n',
  );
  process.exit(2);
}

interface Scenario {
  name: string;
  what: string;
  options: Omit<ReplayOptions, 'seed'>;
}

const common: Omit<ReplayOptions, 'seed'> = {
  ...defaultReplayOptions,
  durationMs,
  clients,
  crashEveryMs: 0,
  stormEveryMs: 0,
  otherTenantShare: 0,
};
/*
 * Crashes about every 100 real seconds (10 s of the bench's wall clock): as often as
 * ratewarden's supervisor tolerates with its default burst limit (5 failures within 5 minutes)
 * for a run of any length. The 429 → crash edge (3 upstream 429s within one window) is on in
 * every scenario.
 */
const allScenarios: Scenario[] = [
  { name: 'steady', what: 'one tenant, no scheduled crash', options: common },
  { name: 'crashes', what: 'a SIGKILL of the worker about every 100 s (real)', options: { ...common, crashEveryMs: scaled(100_000) } },
  {
    name: 'tenant+storms',
    what: 'a second tenant on the key draws half its capacity, bypassing the proxy, and storms (it draws 3× the limit for 1–2 min) about every 5 min',
    options: { ...common, otherTenantShare: 0.5, stormEveryMs: scaled(300_000) },
  },
];
const wanted = values.scenarios.split(',').map((name) => name.trim());
const scenarios = allScenarios.filter((scenario) => wanted.includes(scenario.name));

const interrupted = new AbortController();
process.once('SIGINT', () => interrupted.abort(new Error('interrupted')));

const results: { scenario: string; result: ReplayResult }[] = [];
for (const scenario of scenarios) {
  for (const seed of seeds) {
    const started = Date.now();
    const result = await runReplay({ ...scenario.options, seed }, () => undefined, interrupted.signal, {
      name: '@anthropic-ai/sdk',
      start: startSdkLoad,
    });
    results.push({ scenario: scenario.name, result });
    const { direct, amnesia, ratewarden } = result.runs;
    process.stderr.write(
      `${scenario.name}, seed ${seed}: done in ${((Date.now() - started) / 1000).toFixed(0)} s; 429s ${direct.upstream429s}/${amnesia.upstream429s}/${ratewarden.upstream429s}, ` +
        `goodput ${pct(direct.goodput)}/${pct(amnesia.goodput)}/${pct(ratewarden.goodput)}\n`,
    );
  }
}

function pct(share: number): string {
  return `${(share * 100).toFixed(1)} %`;
}

const order: readonly SetupName[] = ['direct', 'amnesia', 'ratewarden'];
const three = (result: ReplayResult, of: (figures: IncidentFigures) => string): string =>
  order.map((setup) => of(result.runs[setup])).join(' / ');
const sum = (rows: readonly ReplayResult[], setup: SetupName, of: (figures: IncidentFigures) => number): number =>
  rows.reduce((total, result) => total + of(result.runs[setup]), 0);
const mean = (rows: readonly ReplayResult[], setup: SetupName, of: (figures: IncidentFigures) => number): number =>
  rows.length === 0 ? 0 : sum(rows, setup, of) / rows.length;
const failures = (figures: IncidentFigures): string => {
  const { rateLimited, connectionRefused, connectionLost, serverError, other } = figures.clients.failures;
  return `${figures.clients.failed} (${rateLimited} rl, ${connectionRefused} cr, ${connectionLost} cl, ${serverError} 5xx${other > 0 ? `, ${other} other` : ''})`;
};

const real = (ms: number): string => `${Math.round((ms * timeScale) / 60_000)} min`;
const lines: string[] = [
  `Incident replay, ${seeds.length} seeds × ${scenarios.length} scenarios, ${values.duration} of compressed time per run (${real(durationMs)} real; ` +
    `1 s stands for ${timeScale} s, the upstream's 1-minute limit refills over ${upstreamShape.windowMs / 1000} s), ${clients} clients on the official @anthropic-ai/sdk at its default retries, ` +
    `a token bucket of ${upstreamShape.tokenLimit} tokens; every worker dies after ${common.crashAfter429s} upstream 429s within one window. ` +
    `Each cell: direct / amnesia / ratewarden. Node ${process.version}, ${availableParallelism()} CPUs.`,
  '',
  ...scenarios.map((scenario) => `- ${scenario.name}: ${scenario.what}`),
  '',
  `Reproduce: \`npm run bench:replay -- --seeds ${values.seeds} --duration ${values.duration} --clients ${clients}\``,
  '',
  '| scenario | seed | upstream 429s | sent inside a Retry-After | forwarded in a cooldown (amnesia / ratewarden) | restarts, after 429s (amnesia / ratewarden) | goodput | client-visible failures (rate-limited, conn. refused, conn. lost, 5xx) |',
  '|---|---|---|---|---|---|---|---|',
  ...results.map(
    ({ scenario, result }) =>
      `| ${[
        scenario,
        String(result.options.seed),
        three(result, (f) => String(f.upstream429s)),
        three(result, (f) => String(f.sentInsideRetryAfter)),
        `${result.runs.amnesia.forwardedDuringCooldown ?? 0} / ${result.runs.ratewarden.forwardedDuringCooldown ?? 0}`,
        `${result.runs.amnesia.restarts}, ${result.runs.amnesia.restartsAfter429s} / ${result.runs.ratewarden.restarts}, ${result.runs.ratewarden.restartsAfter429s}`,
        three(result, (f) => pct(f.goodput)),
        three(result, failures),
      ].join(' | ')} |`,
  ),
  '',
  'Targets (incident-replay issue):',
];
const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
for (const scenario of scenarios) {
  const rows = results.filter((entry) => entry.scenario === scenario.name).map((entry) => entry.result);
  const amnesia429 = sum(rows, 'amnesia', (f) => f.upstream429s);
  const direct429 = sum(rows, 'direct', (f) => f.upstream429s);
  const ratewarden429 = sum(rows, 'ratewarden', (f) => f.upstream429s);
  const loopRestarts = sum(rows, 'amnesia', (f) => f.restartsAfter429s);
  const forwarded = sum(rows, 'ratewarden', (f) => (f.forwardedDuringCooldown ?? 0) + (f.forwardedDuringCooldownSeenByClients ?? 0));
  lines.push(
    `- ${scenario.name}: the amnesia run's restarts caused by 429s: ${loopRestarts}, with ${amnesia429} upstream 429s (direct: ${direct429}); ` +
      `ratewarden's upstream 429s ${ratewarden429} (target ≤ 1/100 of the amnesia run's: ${met(ratewarden429 * 100 <= amnesia429)}); ` +
      `forwarded during a cooldown ${forwarded} (target 0: ${met(forwarded === 0)}); ` +
      `mean goodput ${order.map((setup) => `${setup} ${pct(mean(rows, setup, (f) => f.goodput))}`).join(', ')}`,
  );
}
lines.push(
  '',
  'Goodput: tokens of answers received in full over what the upstream could have served the fleet (its full bucket at the start plus its refill over the run, less what the second tenant drew). ' +
    '"Sent inside a Retry-After": requests that reached the upstream before a Retry-After it had announced on the key ran out. ' +
    "Time is compressed 10×, but the SDK is not: its own backoff (0.5 s · 2ⁿ, up to 8 s) and its 60 s limit on an honoured Retry-After run on the wall clock, so they stand for 10× longer waits in the replay's time (see docs/demo.md).",
);
process.stdout.write(`${lines.join('\n')}\n`);
