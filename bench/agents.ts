/*
 * bench:agents — what users see: a fleet of coding agents shaped like Claude Code, on the
 * official @anthropic-ai/sdk at its default retries, against a simulated upstream that applies
 * Anthropic's documented rate limits (src/sim/anthropicUpstream.ts), once straight to it ("no
 * proxy") and once through ratewarden (`ratewarden run` from the built CLI, its defaults, its
 * durations scaled like time), on the same seeds, side by side. See docs/benchmarks-agents.md.
 *
 *   npm run bench:agents                                       # every scenario, seeds 1,2, 10 min each
 *   npm run bench:agents -- --scenarios one-key,burst --seeds 3 --duration 5m
 *   npm run bench:agents -- --short                            # a 30 s smoke run (the test's)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/config/durations.js';
import { bindingDimensions, bindingGoodput, measureRun, type ProxyRecords, type RunFigures } from '../src/sim/agentMeasures.js';
import type { RemainingRounding } from '../src/sim/anthropicLimitHeaders.js';
import type { OversizedOutputRule } from '../src/sim/anthropicLimiter.js';
import { startAnthropicUpstream, type AnthropicUpstream } from '../src/sim/anthropicUpstream.js';
import type { ProxyUnderTest } from '../src/sim/proxyUnderTest.js';
import { readIncidentRecords } from '../src/store/sqlite/incidentView.js';
import { runFleet } from './agentsFleet.js';
import { freePort, startRatewarden } from './agentsProxy.js';
import { scenarios as allScenarios, type Scenario } from './agentsScenarios.js';

function fail(message: string): never {
  process.stderr.write(`bench:agents: ${message}\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1' },
    scenarios: { type: 'string', default: 'one-key,org-keys,two-classes,burst,tier4' },
    // Also known: two-orgs, flood (for issue 21's targets).
    duration: { type: 'string', default: '10m' },
    'time-scale': { type: 'string', default: '10' },
    'max-tokens': { type: 'string', default: '32000' },
    rounding: { type: 'string', default: 'nearest' },
    'cache-reads-count': { type: 'boolean', default: false },
    'oversized-output': { type: 'string', default: 'admit-when-full' },
    sequential: { type: 'boolean', default: false },
    // Real time ratewarden serves the same scenario (another seed) on the same database before the measured run; 0: a new database.
    'warm-db': { type: 'string', default: '0' },
    short: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

const seeds = values.seeds.split(',').map((seed) => Number(seed.trim()));
if (seeds.some((seed) => !Number.isSafeInteger(seed) || seed < 0)) fail('--seeds takes whole numbers such as 1,2');
const durationMs = values.short ? 30_000 : parseDuration(values.duration);
if (durationMs === null || durationMs <= 0) fail('--duration takes a duration of real time such as 10m');
const timeScale = Number(values['time-scale']);
if (!(timeScale >= 1)) fail('--time-scale takes a number ≥ 1 (10: one second stands for ten)');
const maxTokens = Number(values['max-tokens']);
if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > 64_000) fail('--max-tokens takes a whole number from 1 to 64000');
const rounding = values.rounding as RemainingRounding;
if (!['nearest', 'down', 'none'].includes(rounding)) fail('--rounding takes nearest, down or none');
const oversizedOutput = values['oversized-output'] as OversizedOutputRule;
if (!['admit-when-full', 'refuse'].includes(oversizedOutput)) fail('--oversized-output takes admit-when-full or refuse');

const warmMs: number =
  (values['warm-db'] === '0' ? 0 : parseDuration(values['warm-db'])) ??
  fail('--warm-db takes a duration of real time such as 5m (0: a new database)');

const context = { timeScale, durationMs, maxTokens };
const wanted = values.scenarios.split(',').map((name) => name.trim());
const known = allScenarios(context);
for (const name of wanted)
  if (!known.some((scenario) => scenario.name === name))
    fail(`unknown scenario "${name}"; known: ${known.map((scenario) => scenario.name).join(', ')}`);
const chosen = known.filter((scenario) => wanted.includes(scenario.name));
const wallMs = durationMs / timeScale;
const windowMs = 60_000 / timeScale;

type Setup = 'no proxy' | 'ratewarden';

interface Prepared {
  setup: Setup;
  upstream: AnthropicUpstream;
  proxy: ProxyUnderTest | null;
  baseUrl: string;
  dir: string | null;
}

const startUpstream = (scenario: Scenario): Promise<AnthropicUpstream> =>
  startAnthropicUpstream({
    timeScale,
    keys: scenario.keys,
    classes: scenario.classes,
    rounding,
    oversizedOutput,
    cacheReadsCountTowardItpm: values['cache-reads-count'],
  });

/** ratewarden serves the scenario (on another seed, another upstream) for `warmMs` on the database, then stops. */
async function warmUp(database: string, scenario: Scenario, seed: number): Promise<void> {
  const upstream = await startUpstream(scenario);
  const port = await freePort();
  const proxy = startRatewarden(upstream.url, port, database, timeScale);
  const stop = new AbortController();
  try {
    await proxy.firstReady;
    const timer = setTimeout(() => stop.abort(), warmMs / timeScale);
    await runFleet(`http://127.0.0.1:${port}`, scenario.agents, seed + 1_000_000, { timeScale, thinkTimeMs: [0, 2_000] }, stop.signal);
    clearTimeout(timer);
  } finally {
    stop.abort();
    await proxy.stop();
    await upstream.close();
  }
}

async function prepare(setup: Setup, scenario: Scenario, seed: number): Promise<Prepared> {
  const dir = setup === 'no proxy' ? null : mkdtempSync(join(tmpdir(), 'ratewarden-agents-'));
  if (dir !== null && warmMs > 0) await warmUp(join(dir, 'ratewarden.db'), scenario, seed);
  const upstream = await startUpstream(scenario);
  if (dir === null) return { setup, upstream, proxy: null, baseUrl: upstream.url, dir: null };
  const port = await freePort();
  const proxy = startRatewarden(upstream.url, port, join(dir, 'ratewarden.db'), timeScale);
  try {
    await proxy.firstReady;
  } catch (error) {
    await proxy.stop();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return { setup, upstream, proxy, baseUrl: `http://127.0.0.1:${port}`, dir };
}

/** The proxy's own admissions and cooldowns, when the scenario has a single scope (one key, one model class). */
function proxyRecordsOf(prepared: Prepared, scenario: Scenario): ProxyRecords | null {
  if (prepared.dir === null || Object.keys(scenario.keys).length !== 1 || scenario.classes.length !== 1) return null;
  return readIncidentRecords(join(prepared.dir, 'ratewarden.db'));
}

async function play(prepared: Prepared, scenario: Scenario, seed: number): Promise<RunFigures> {
  const stop = new AbortController();
  const startedAt = Date.now();
  const timer = setTimeout(() => stop.abort(), wallMs);
  try {
    const records = await runFleet(prepared.baseUrl, scenario.agents, seed, { timeScale, thinkTimeMs: [0, 2_000] }, stop.signal);
    const endedAt = Date.now();
    await prepared.proxy?.stop();
    const groups = Object.values(scenario.keys)
      .map((key) => key.organization)
      .filter((organization, index, all) => all.indexOf(organization) === index)
      .flatMap((organization) =>
        scenario.classes.map((modelClass) => ({ organization, modelClass: modelClass.name, limits: modelClass.limits })),
      );
    const organizationOf = (key: string): string => scenario.keys[key]?.organization ?? key;
    return measureRun(
      records,
      prepared.upstream.arrivals(),
      groups,
      organizationOf,
      { startedAt, endedAt: Math.max(endedAt, startedAt + 1), windowMs, timeScale },
      proxyRecordsOf(prepared, scenario),
    );
  } finally {
    clearTimeout(timer);
    await prepared.proxy?.stop();
    await prepared.upstream.close();
    if (prepared.dir !== null) rmSync(prepared.dir, { recursive: true, force: true });
  }
}

async function runPair(scenario: Scenario, seed: number): Promise<Record<Setup, RunFigures>> {
  const setups: Setup[] = ['no proxy', 'ratewarden'];
  if (values.sequential) {
    const direct = await play(await prepare('no proxy', scenario, seed), scenario, seed);
    const proxied = await play(await prepare('ratewarden', scenario, seed), scenario, seed);
    return { 'no proxy': direct, ratewarden: proxied };
  }
  // Both start together once ratewarden is ready, so that both share the machine's load alike.
  const prepared = await Promise.all(setups.map((setup) => prepare(setup, scenario, seed)));
  const [direct, proxied] = await Promise.all(prepared.map((entry) => play(entry, scenario, seed)));
  if (direct === undefined || proxied === undefined) throw new Error('a run produced no figures');
  return { 'no proxy': direct, ratewarden: proxied };
}

interface Row {
  scenario: Scenario;
  seed: number;
  runs: Record<Setup, RunFigures>;
  binding: ReturnType<typeof bindingDimensions>;
}

const rows: Row[] = [];
for (const scenario of chosen) {
  for (const seed of seeds) {
    const began = Date.now();
    const runs = await runPair(scenario, seed);
    rows.push({ scenario, seed, runs, binding: bindingDimensions(runs['no proxy']) });
    process.stderr.write(
      `${scenario.name}, seed ${seed}: ${((Date.now() - began) / 1000).toFixed(0)} s; upstream 429s ${runs['no proxy'].upstream429s} / ${runs.ratewarden.upstream429s}\n`,
    );
  }
}

const pct = (share: number): string => `${(share * 100).toFixed(1)} %`;
const seconds = (value: number): string => `${value.toFixed(1)}`;
const setups: Setup[] = ['no proxy', 'ratewarden'];
function failuresText(figures: RunFigures): string {
  const parts = Object.entries(figures.failuresByOutcome).map(([outcome, count]) => `${count} ${outcome}`);
  return `${figures.failures} of ${figures.calls} (${pct(figures.failureRate)})${parts.length > 0 ? `: ${parts.join(', ')}` : ''}`;
}
function localText(figures: RunFigures): string {
  const parts = Object.entries(figures.local429s).map(([reason, count]) => `${count} ${reason}`);
  return parts.length === 0 ? '0' : parts.join(', ');
}

const lines: string[] = [
  `bench:agents, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, Node ${process.version}, ${availableParallelism()} CPUs. ` +
    `${durationMs / 60_000} min of real time per run at ×${timeScale} (${(wallMs / 1000).toFixed(0)} s of wall time); the upstream's minute lasts ${windowMs / 1000} s; ` +
    `max_tokens ${maxTokens}; remaining rounded ${rounding}; cache reads ${values['cache-reads-count'] ? 'counted' : 'not counted'} toward ITPM; max_tokens above the OTPM bucket: ${oversizedOutput}; ` +
    `the two runs of a row ${values.sequential ? 'one after the other' : 'side by side'}; ratewarden on ${warmMs > 0 ? `a database that served the same scenario (another seed) for ${warmMs / 60_000} min before` : 'a new database'}.`,
  '',
  ...chosen.map((scenario) => `- ${scenario.name}: ${scenario.what}`),
  '',
  `Reproduce: \`npm run bench:agents -- --scenarios ${chosen.map((scenario) => scenario.name).join(',')} --seeds ${seeds.join(',')} --duration ${durationMs / 60_000}m --time-scale ${timeScale}${warmMs > 0 ? ` --warm-db ${values['warm-db']}` : ''}\``,
  '',
  "| scenario | seed | run | upstream 429s | goodput (binding limit) | client-visible failures after the SDK's retries | turn time p50 / p95 (s, real) | turns finished / started | local 429s | reached the upstream in a cooldown (of which 429) | admitted in a recorded cooldown |",
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows.flatMap((row) =>
    setups.map((setup) => {
      const figures = row.runs[setup];
      const binding = Object.entries(row.binding)
        .map(([group, dimension]) => `${dimension}${Object.keys(row.binding).length > 1 ? ` (${group})` : ''}`)
        .join(', ');
      return `| ${row.scenario.name} | ${row.seed} | ${setup} | ${figures.upstream429s} of ${figures.upstreamRequests} | ${pct(bindingGoodput(figures, row.binding))} ${binding} | ${failuresText(figures)} | ${seconds(figures.turnP50s)} / ${seconds(figures.turnP95s)} | ${figures.turnsFinished} / ${figures.turns} | ${setup === 'no proxy' ? '–' : localText(figures)} | ${setup === 'no proxy' ? '–' : `${figures.forwardedInCooldown} (${figures.forwardedInCooldown429})${figures.cooldownSource === 'told' ? ' told' : ''}`} | ${setup === 'no proxy' ? '–' : (figures.admittedInCooldown ?? 'n/a (several scopes)')} |`;
    }),
  ),
  '',
  ...rows.flatMap((row) =>
    setups
      .filter((setup) => Object.keys(row.runs[setup].turnsByRole).length > 1)
      .map(
        (setup) =>
          `Turn times by role, ${row.scenario.name}, seed ${row.seed}, ${setup}: ${Object.entries(row.runs[setup].turnsByRole)
            .map(([role, turns]) => `${role} ${turns.turns} turns, p50 ${seconds(turns.p50s)} s, p95 ${seconds(turns.p95s)} s`)
            .join('; ')}`,
      ),
  ),
  '',
  'Targets (issue 19), means over the seeds:',
];
const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
for (const scenario of chosen) {
  const mine = rows.filter((row) => row.scenario === scenario);
  const mean = (setup: Setup, of: (figures: RunFigures, row: Row) => number): number =>
    mine.reduce((sum, row) => sum + of(row.runs[setup], row), 0) / Math.max(1, mine.length);
  const goodput = (setup: Setup): number => mean(setup, (figures, row) => bindingGoodput(figures, row.binding));
  const failures = (setup: Setup): number => mean(setup, (figures) => figures.failures);
  const rate = (setup: Setup): number => mean(setup, (figures) => figures.failureRate);
  const p50 = (setup: Setup): number => mean(setup, (figures) => figures.turnP50s);
  const p95 = (setup: Setup): number => mean(setup, (figures) => figures.turnP95s);
  const upstream429s = (setup: Setup): number => mean(setup, (figures) => figures.upstream429s);
  const forwarded = mean('ratewarden', (figures) => figures.forwardedInCooldown);
  const admitted = mean('ratewarden', (figures) => figures.admittedInCooldown ?? 0);
  lines.push(
    `- ${scenario.name}: goodput ${pct(goodput('ratewarden'))} vs ${pct(goodput('no proxy'))} (≥ no proxy − 2 points: ${met(goodput('ratewarden') >= goodput('no proxy') - 0.02)}); ` +
      `failures ${failures('ratewarden').toFixed(1)} (${pct(rate('ratewarden'))}) vs ${failures('no proxy').toFixed(1)} (${pct(rate('no proxy'))}) (≤ in count and rate: ${met(failures('ratewarden') <= failures('no proxy') && rate('ratewarden') <= rate('no proxy'))}); ` +
      `turn p50 ${p50('ratewarden').toFixed(1)} s vs ${p50('no proxy').toFixed(1)} s, p95 ${p95('ratewarden').toFixed(1)} s vs ${p95('no proxy').toFixed(1)} s (≤ 1.25×: ${met(p50('ratewarden') <= 1.25 * p50('no proxy') && p95('ratewarden') <= 1.25 * p95('no proxy'))}); ` +
      `upstream 429s ${upstream429s('ratewarden').toFixed(1)} vs ${upstream429s('no proxy').toFixed(1)} (≤ 1/10: ${met(upstream429s('ratewarden') * 10 <= upstream429s('no proxy'))}); ` +
      (mine.some((row) => row.runs.ratewarden.admittedInCooldown === null)
        ? `reached the upstream in a cooldown clients were told of ${forwarded.toFixed(1)} (several scopes: the proxy's records cannot say which scope cooled; not judged)`
        : `admitted in a recorded cooldown ${admitted.toFixed(1)} (0: ${met(admitted === 0)}); reached the upstream inside one ${forwarded.toFixed(1)}`),
  );
}
lines.push(
  '',
  'Goodput: per limit group (organization × model class), the tokens (or requests) of the calls that succeeded, on the dimension the no-proxy run of the same seed used the largest share of, over what the group could serve in the run (a full bucket at the start plus the refill); averaged over the groups. ' +
    'Input counts as ITPM counts it (input_tokens + cache_creation_input_tokens). A turn lasts from its first attempt to its success, failed calls and the pauses after them included; a turn still open at the end counts what it waited. ' +
    '"Admitted in a recorded cooldown": from ratewarden\'s database, admissions strictly inside a cooldown it recorded (single-scope scenarios only): the target\'s 0. ' +
    '"Reached the upstream in a cooldown": requests the upstream received strictly inside a cooldown ratewarden recorded (single-scope scenarios), or, marked "told", inside one it had announced to a client of that key and model class (a local 429 `cooldown` and its Retry-After, 20 ms of slack at each end; ratewarden also gives reason `cooldown` while its probe is out, with a Retry-After of 1 s). It includes requests admitted just before the 429 that started the cooldown was recorded and forwarded after it, which a loaded machine makes more frequent. ' +
    `The SDK's own backoff (0.5–8 s, used only when an answer names no wait) runs on the wall clock, so on compressed time it stands for a wait ${timeScale} times longer.`,
);
process.stdout.write(`${lines.join('\n')}\n`);
if (values.json)
  process.stdout.write(
    `${JSON.stringify(rows.map((row) => ({ scenario: row.scenario.name, seed: row.seed, binding: row.binding, runs: row.runs })))}\n`,
  );
