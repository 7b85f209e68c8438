import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/core/statusReport.js';
import { startSimUpstream, type SimUpstream, type SimUpstreamOptions } from '../../src/sim/upstream.js';
import { artifactsDir, collectErrors, launchChromium } from '../helpers/browser.js';
import { freeLoopbackPort } from '../helpers/freePort.js';
import { ScratchDirs } from '../helpers/scratchDir.js';
import { binary, cliEnv, requireBuild, runCli } from './operatorCli.js';
import { StartedProcesses } from './startedProcesses.js';

/*
 * The live page in a real browser (the distribution's headless Chromium, driven by
 * playwright-core), against the built CLI's proxy and a simulated upstream.
 */

const dirs = new ScratchDirs();
const processes = new StartedProcesses();
const sims: SimUpstream[] = [];
const inFlight = new AbortController();
let browser: Browser;
let context: BrowserContext | null = null;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
});

afterEach(async () => {
  // The page first: it would count the proxy going away as errors of its own.
  await context?.close();
  context = null;
  await processes.stopAll();
  await Promise.all(sims.splice(0).map((sim) => sim.close()));
  dirs.removeAll();
});

const keys = {
  a: 'sk-ant-test-aaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  b: 'sk-ant-test-bbbbbbbbbbbbbbbbbbbbbbbbbbbb',
  c: 'sk-ant-test-cccccccccccccccccccccccccccc',
};

async function sim(options: SimUpstreamOptions = {}): Promise<SimUpstream> {
  const upstream = await startSimUpstream(options);
  sims.push(upstream);
  return upstream;
}

/** An Anthropic Messages call through the proxy; a hung one ends when the test's processes stop. */
function message(proxy: string, key: string, maxTokens = 100, session?: string): Promise<Response> {
  return fetch(`${proxy}/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': key,
      'anthropic-version': '2023-06-01',
      ...(session === undefined ? {} : { 'x-claude-code-session-id': session }),
    },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: maxTokens, messages: [{ role: 'user', content: 'Hello there' }] }),
    signal: inFlight.signal,
  });
}

function sendAndForget(proxy: string, key: string, maxTokens: number, session?: string): void {
  message(proxy, key, maxTokens, session).catch(() => undefined);
}

async function view(proxy: string): Promise<StatusReport> {
  const response = await fetch(`${proxy}/_ratewarden/status.json`);
  expect(response.status).toBe(200);
  return (await response.json()) as StatusReport;
}

/** Reads the view until `done` holds: a handshake with the proxy, not a sleep. */
async function viewUntil(proxy: string, done: (report: StatusReport) => boolean): Promise<StatusReport> {
  for (;;) {
    const report = await view(proxy);
    if (done(report)) return report;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function openPage(url: string, options: Parameters<Browser['newContext']>[0] = {}): Promise<{ page: Page; errors: string[] }> {
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, errors };
}

async function worker(upstream: SimUpstream, args: readonly string[] = []): Promise<{ url: string; home: string }> {
  const home = dirs.make('ratewarden-page-');
  const started = await processes.worker(home, ['--upstream', upstream.url, '--provider', 'anthropic', ...args]);
  return { url: started.url, home };
}

describe('the live page at /_ratewarden/', () => {
  it('loads with no console error and shows every limit group, never a key', async () => {
    const upstream = await sim();
    const proxy = await worker(upstream);
    for (const key of [keys.a, keys.b]) expect((await message(proxy.url, key)).status).toBe(200);

    const { page, errors } = await openPage(`${proxy.url}/_ratewarden/`);
    const groups = (await view(proxy.url)).scopes.filter((line) => line.windowRequests > 0);
    expect(groups).toHaveLength(2);
    for (const group of groups) {
      const card = page.locator(`article[data-scope="${group.scope}"]`);
      await card.waitFor();
      expect(await card.getAttribute('data-condition')).toBe('flowing');
      expect(await card.textContent()).toContain('Flowing');
    }
    expect(await page.locator('#connection').textContent()).toContain('Live');
    const html = await page.content();
    const json = await (await fetch(`${proxy.url}/_ratewarden/status.json`)).text();
    for (const key of [keys.a, keys.b]) {
      expect(html).not.toContain(key);
      expect(json).not.toContain(key);
    }
    expect(upstream.stats().requests).toBe(2);
    expect(errors).toEqual([]);
  });

  it('turns a group to "cooling" with a countdown within two seconds of an upstream 429', async () => {
    const upstream = await sim({ retryAfterMode: 'none' });
    const proxy = await worker(upstream, ['--backoff-base', '40s']);
    expect((await message(proxy.url, keys.a)).status).toBe(200);
    const { page, errors } = await openPage(`${proxy.url}/_ratewarden/`);
    await page.waitForSelector('article[data-condition="flowing"]');

    upstream.setMode('always-429');
    const refused = await message(proxy.url, keys.a);
    expect(refused.status).toBe(429);
    // The promise: the page shows it within two seconds of the 429 (it reads the view every second).
    const countdown = await page.waitForSelector('article[data-phase="cooling"] .countdown', { timeout: 2_000 });
    const first = (await countdown.textContent()) ?? '';
    expect(first).toMatch(/^\d+:\d\d$/);
    const card = page.locator('article[data-phase="cooling"]');
    expect(await card.textContent()).toMatch(/Cooling.*ladder level 1.*1 upstream 429 in a row/s);
    expect(await page.locator('#summary').textContent()).toContain('1 group cooling');
    // It counts down on its own.
    while ((await countdown.textContent()) === first) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(errors).toEqual([]);
  });

  it('shows the queue growing under a burst, the reservations in flight, a cut on the budget chart, at desktop, phone and dark', async () => {
    // No rate-limit headers: the 429 does not show which limit had room, so the token budget takes the cut.
    const upstream = await sim({ retryAfterMode: 'none', reportLimits: false });
    const proxy = await worker(upstream, ['--token-budget', '1000', '--max-wait', '60s', '--backoff-base', '60s']);
    const { page, errors } = await openPage(`${proxy.url}/_ratewarden/`);

    // One group cools after an upstream 429 with usage in its window: its budget is cut.
    for (let i = 0; i < 3; i++) expect((await message(proxy.url, keys.c)).status).toBe(200);
    upstream.setMode('always-429');
    expect((await message(proxy.url, keys.c)).status).toBe(429);
    for (let i = 0; i < 2; i++) expect((await message(proxy.url, keys.c)).headers.get('x-ratewarden-reason')).toBe('cooldown');

    // Another holds two large reservations on an upstream that does not answer, and a burst waits behind them.
    upstream.setMode('hang');
    for (let i = 0; i < 2; i++) sendAndForget(proxy.url, keys.b, 400);
    await viewUntil(proxy.url, (report) => report.history?.reservationsInFlight === 2);
    for (let i = 0; i < 2; i++) sendAndForget(proxy.url, keys.b, 400);
    await page.waitForSelector('#queue[data-total="2"]');
    // Two of them from one Claude Code session: the queue says who waits, the session by a hash only.
    for (let i = 0; i < 3; i++) sendAndForget(proxy.url, keys.b, 400, i < 2 ? 'agent-session-one' : undefined);
    await page.waitForSelector('#queue[data-total="5"]');
    const bySession = await page.locator('#queue tbody tr td').nth(3).textContent();
    expect(bySession).toMatch(/session [0-9a-f]{8}: 2/);
    expect(bySession).toMatch(/key [0-9a-f]+: 3/);
    expect(await page.locator('#queue').textContent()).not.toContain('agent-session-one');
    expect(await page.locator('article[data-condition="waiting"] .badge').textContent()).toContain('Waiting (5)');
    expect(await page.locator('#reservations tbody tr').count()).toBe(2);

    // Trouble first: the cooling group, then the waiting one.
    const conditions = await page.locator('article.group').evaluateAll((cards) => cards.map((card) => card.getAttribute('data-condition')));
    expect(conditions.slice(0, 2)).toEqual(['cooling', 'waiting']);
    await page.waitForSelector('#budget-events li:has-text("▼ cut")');
    // The refusals reach the view at the proxy's next tick; the chart's series start with the page.
    await page.waitForSelector('article[data-condition="cooling"] .facts:has-text("2 in cooldown")');
    for (const chart of ['#budget-chart', '#refusals-chart']) {
      expect(await page.locator(`${chart} canvas`).count()).toBeGreaterThan(0);
      expect(await page.locator(`${chart} .u-legend`).textContent()).not.toBe('');
    }
    expect(await page.locator('#refusals-chart .u-legend').textContent()).toContain('upstream 429s');
    // The proxy counts its own local refusals per minute (the database keeps totals only).
    const refusals = (await view(proxy.url)).live?.refusals ?? [];
    expect(refusals.filter((line) => line.reason === 'cooldown').reduce((sum, line) => sum + line.count, 0)).toBe(2);
    expect(await page.locator('#refusals-note').textContent()).toContain('when this proxy started');
    await page.screenshot({ path: join(artifactsDir, 'desktop.png'), fullPage: true });

    await page.setViewportSize({ width: 390, height: 844 });
    // Nothing wider than the phone: the cards stack, the charts shrink, the tables scroll inside their box.
    await page.waitForFunction(() => {
      const inPage = globalThis as unknown as { innerWidth: number; document: { documentElement: { scrollWidth: number } } };
      return inPage.document.documentElement.scrollWidth <= inPage.innerWidth;
    });
    await page.screenshot({ path: join(artifactsDir, 'phone.png'), fullPage: true });

    const background = 'getComputedStyle(document.body).backgroundColor';
    const lightBackground = await page.evaluate<string>(background);
    await page.setViewportSize({ width: 2560, height: 1440 });
    await page.emulateMedia({ colorScheme: 'dark' });
    expect(await page.evaluate<string>(background)).not.toBe(lightBackground);
    await page.screenshot({ path: join(artifactsDir, 'wall-dark.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  it('works with the network to everything but loopback absent: it asks for nothing else', async () => {
    const upstream = await sim();
    const proxy = await worker(upstream);
    expect((await message(proxy.url, keys.a)).status).toBe(200);
    // A browser of its own whose names resolve to nothing but loopback; every request elsewhere is refused and noted.
    const offline = await launchChromium(['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1']);
    const elsewhere: string[] = [];
    try {
      const offlineContext = await offline.newContext({ viewport: { width: 1280, height: 900 } });
      await offlineContext.route('**/*', async (route) => {
        const host = new URL(route.request().url()).hostname;
        if (host === '127.0.0.1' || host === 'localhost' || host === '[::1]') await route.continue();
        else {
          elsewhere.push(route.request().url());
          await route.abort('internetdisconnected');
        }
      });
      const page = await offlineContext.newPage();
      const errors = collectErrors(page);
      await page.goto(`${proxy.url}/_ratewarden/`);
      await page.waitForSelector('body[data-ready="true"]');
      await page.waitForSelector('article[data-condition="flowing"]');
      expect(await page.locator('#budget-chart canvas').count()).toBeGreaterThan(0);
      expect(await page.evaluate<string>('typeof window.uPlot')).toBe('function');
      expect(errors).toEqual([]);
      await offlineContext.close();
    } finally {
      await offline.close();
    }
    expect(elsewhere).toEqual([]);
  });
});

describe('turning the page off, and serving it without a proxy', () => {
  it('--no-page: /_ratewarden/ is answered 404 locally and never forwarded', async () => {
    const upstream = await sim();
    const proxy = await worker(upstream, ['--no-page']);
    for (const path of ['/_ratewarden/', '/_ratewarden/status.json', '/_ratewarden/page.js']) {
      const answer = await fetch(`${proxy.url}${path}`);
      expect(answer.status).toBe(404);
      expect(answer.headers.get('x-ratewarden-reason')).toBe('reserved-path');
    }
    expect(upstream.stats().requests).toBe(0);
  });

  it('status --web serves the same page for a database no proxy serves; the queue is said to be unknown', async () => {
    requireBuild();
    const upstream = await sim();
    const proxy = await worker(upstream);
    expect((await message(proxy.url, keys.a)).status).toBe(200);
    const running = await view(proxy.url);
    await processes.stopAll();

    const port = await freeLoopbackPort();
    const web: ResultPromise = processes.track(
      execa(binary, ['status', '--web', `127.0.0.1:${port}`], {
        env: cliEnv(proxy.home),
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
      }),
    );
    let output = '';
    await new Promise<void>((resolve, reject) => {
      web.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('serving the live page')) resolve();
      });
      void web.then(() => reject(new Error(`status --web exited: ${output}`)));
    });
    const url = `http://127.0.0.1:${port}`;
    const report = await view(url);
    expect(report.live).toBeNull();
    expect(report.database).toBe(running.database);
    expect(report.scopes.map((line) => line.scope)).toEqual(
      expect.arrayContaining(running.scopes.filter((line) => line.windowRequests > 0).map((line) => line.scope)),
    );
    expect((await fetch(`${url}/_ratewarden/status.json`, { method: 'POST' })).status).toBe(405);

    const { page, errors } = await openPage(`${url}/`);
    await page.waitForSelector('article[data-condition="flowing"]');
    expect(await page.locator('#queue').textContent()).toContain('known only to a running proxy');
    expect(await page.locator('#trouble').textContent()).toContain('No worker is running');
    expect(errors).toEqual([]);
    await context?.close();
    context = null;
    web.kill('SIGTERM');
    expect((await web).exitCode).toBe(0);
  });

  it('status --web: a bad or non-loopback address is one line and exit 2', async () => {
    const env = cliEnv(dirs.make('ratewarden-page-'));
    const bad = await runCli(['status', '--web', 'nonsense'], env);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([
      'ratewarden: --web: "nonsense" is not HOST:PORT; use e.g. 127.0.0.1:8787, [::1]:8787, or 127.0.0.1:0 for any free port',
    ]);
    const remote = await runCli(['status', '--web', '0.0.0.0:0'], env);
    expect(remote.exitCode).toBe(2);
    expect(remote.stderr).toMatch(/^ratewarden: --web: 0\.0\.0\.0 is not a loopback address, .*add --allow-remote/);
  });
});
