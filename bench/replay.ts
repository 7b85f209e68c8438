/*
 * The incident-replay benchmark: `ratewarden demo`'s comparison over longer runs, several seeds
 * and two scenarios (crashes alone; crashes and upstream storms). Prints a markdown table for
 * the README's "Results" heading and checks the targets of issue 6.
 *
 *   npm run bench:replay                       # seeds 1,2,3; 120 s (20 real minutes) per run
 *   npm run bench:replay -- --seeds 1,2 --duration 60s
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/config/durations.js';
import type { IncidentFigures } from '../src/sim/incidentMeasures.js';
import { scaled, timeScale, type ReplayOptions } from '../src/sim/incidentScenario.js';
import { runReplay, type ReplayResult } from '../src/sim/replay.js';

const { values } = parseArgs({ options: { seeds: { type: 'string', default: '1,2,3' }, duration: { type: 'string', default: '120s' } } });
const seeds = values.seeds.split(',').map((seed) => Number(seed.trim()));
const durationMs = parseDuration(values.duration);
if (durationMs === null || seeds.some((seed) => !Number.isSafeInteger(seed) || seed < 0)) {
  process.stderr.write('bench:replay: --seeds takes whole numbers such as 1,2,3 and --duration a duration such as 120s\n');
  process.exit(2);
}

interface Scenario {
  name: string;
  options: Omit<ReplayOptions, 'seed'>;
}

/*
 * A crash about every 100 real seconds: as often as ratewarden's supervisor tolerates with its
 * default burst limit (5 failures within 5 minutes) for a run of any length. The demo's one a
 * minute would make it give up after the fifth crash, which is its design, not this benchmark.
 */
const common = { durationMs, crashEveryMs: scaled(100_000), clients: 12 };
const scenarios: Scenario[] = [
  { name: 'crashes', options: { ...common, stormEveryMs: 0 } },
  { name: 'crashes + storms', options: { ...common, stormEveryMs: scaled(300_000) } },
];

const interrupted = new AbortController();
process.once('SIGINT', () => interrupted.abort(new Error('interrupted')));

const results: { scenario: string; result: ReplayResult }[] = [];
for (const scenario of scenarios) {
  for (const seed of seeds) {
    const started = Date.now();
    const result = await runReplay({ ...scenario.options, seed }, () => undefined, interrupted.signal);
    results.push({ scenario: scenario.name, result });
    process.stderr.write(`${scenario.name}, seed ${seed}: done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  }
}

const pct = (share: number | null): string => (share === null ? '—' : `${(share * 100).toFixed(1)} %`);
const pair = (of: (figures: IncidentFigures) => string, result: ReplayResult): string => `${of(result.runs.amnesia)} → ${of(result.runs.ratewarden)}`;
const sum = (rows: readonly ReplayResult[], setup: 'amnesia' | 'ratewarden', of: (figures: IncidentFigures) => number): number =>
  rows.reduce((total, result) => total + of(result.runs[setup]), 0);
const mean = (rows: readonly ReplayResult[], of: (figures: IncidentFigures) => number | null): number | null => {
  const present = rows.map((result) => of(result.runs.ratewarden)).filter((value): value is number => value !== null);
  return present.length === 0 ? null : present.reduce((total, value) => total + value, 0) / present.length;
};

const real = (ms: number): string => `${Math.round((ms * timeScale) / 60_000)} min`;
const lines: string[] = [
  `Incident replay, ${seeds.length} seeds × 2 scenarios, ${values.duration} of compressed time per run (${real(durationMs)} real; ` +
    `1 s stands for ${timeScale} s, the upstream's 1-minute window lasts ${60 / timeScale} s), ${common.clients} clients, ` +
    `a crash (SIGKILL) about every ${(common.crashEveryMs * timeScale) / 1000} s; storms: the upstream refuses everything for 1–2 min about every 5 min. ` +
    `Each cell: amnesia → ratewarden. Node ${process.version}, ${availableParallelism()} CPUs.`,
  '',
  `Reproduce: \`npm run bench:replay -- --seeds ${values.seeds} --duration ${values.duration}\``,
  '',
  '| scenario | seed | upstream 429s | forwarded while window exhausted | forwarded during a cooldown | crashes in a cooldown: survived | goodput | goodput once calibrated | restarts | zero-token samples |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...results.map(({ scenario, result }) =>
    [
      scenario,
      String(result.options.seed),
      pair((f) => String(f.upstream429s), result),
      pair((f) => String(f.forwardedWhileExhausted), result),
      pair((f) => String(f.forwardedDuringCooldown), result),
      pair((f) => `${f.cooldownsSurvivingCrash}/${f.crashesDuringCooldown}`, result),
      pair((f) => pct(f.goodput), result),
      pair((f) => pct(f.goodputOnceCalibrated), result),
      pair((f) => String(f.restarts), result),
      pair((f) => String(f.zeroTokenSamples), result),
    ].join(' | ').replace(/^/, '| ').concat(' |'),
  ),
  '',
  'Targets (ratewarden):',
];
for (const scenario of scenarios) {
  const rows = results.filter((entry) => entry.scenario === scenario.name).map((entry) => entry.result);
  const amnesia429 = sum(rows, 'amnesia', (f) => f.upstream429s);
  const ratewarden429 = sum(rows, 'ratewarden', (f) => f.upstream429s);
  const forwarded = sum(rows, 'ratewarden', (f) => f.forwardedDuringCooldown + f.forwardedDuringCooldownSeenByClients);
  const calibrated = mean(rows, (f) => f.goodputOnceCalibrated);
  const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  lines.push(
    `- ${scenario.name}: upstream 429s ${ratewarden429} against the amnesia run's ${amnesia429} (target ≤ 1/20: ${met(ratewarden429 * 20 <= amnesia429)}${ratewarden429 > 0 ? `, 1/${(amnesia429 / ratewarden429).toFixed(1)}` : ''}); ` +
      `forwarded during a cooldown ${forwarded} (target 0: ${met(forwarded === 0)}); ` +
      `goodput once calibrated ${pct(calibrated)} on average (target ≥ 90 %: ${met(calibrated !== null && calibrated >= 0.9)})`,
  );
}
lines.push(
  '',
  '"Once calibrated": from one window after the token budget first stood at its calibrated value (the limit the upstream reports × the 0.9 safety margin) until the end of the run. ' +
    'Goodput: tokens of answers received in full over the upstream\'s capacity (its limit per window over the time it was not storming).',
);
process.stdout.write(`${lines.join('\n')}\n`);
