import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/kernel/log.js';
import { scrape } from '../../helpers/prometheus.js';
import { ProxyHarness, lastScope, postJson } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

interface JsonLine {
  event: string;
  message: string;
}

/** OpenAI's headers on a success: 2 000 000 tokens and 5 000 requests a minute, nearly all left. */
const roomyHeaders = {
  'x-ratelimit-limit-tokens': '2000000',
  'x-ratelimit-remaining-tokens': '1999900',
  'x-ratelimit-reset-tokens': '3ms',
  'x-ratelimit-limit-requests': '5000',
  'x-ratelimit-remaining-requests': '4999',
  'x-ratelimit-reset-requests': '12ms',
};

const chat = JSON.stringify({ model: 'gpt-4o', max_tokens: 15, messages: [{ role: 'user', content: 'hi' }] });

describe('the issue’s OpenAI-shaped cut, through the real proxy', () => {
  it('a cut to 49 tokens under a 2 000 000 report heals at the probe: back to known-good, logged once each way, counted, and gone from status', async () => {
    let answered = 0;
    const upstream = await harness.upstream((request, response) => {
      request.resume();
      answered += 1;
      // The third request meets a 429 without rate-limit headers (a gateway's, say): every limit is a suspect.
      if (answered === 3) {
        response.writeHead(429, { 'content-type': 'application/json', 'retry-after-ms': '200' });
        response.end(JSON.stringify({ error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } }));
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json', ...roomyHeaders });
      response.end(
        JSON.stringify({
          id: 'c',
          object: 'chat.completion',
          choices: [],
          usage: { prompt_tokens: 20, completion_tokens: 15, total_tokens: 35 },
        }),
      );
    });
    const written: string[] = [];
    const log = createLogger('json', (line) => void written.push(line));
    // A 2 s window: the cut holds the probe only until the window's 70 tokens age out.
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'openai', window: '2s', logFormat: 'json' }, { log });
    const send = (): Promise<Response> => postJson(`${proxy.url}/v1/chat/completions`, chat);

    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(200);
    const scope = lastScope(proxy.warden);
    const knownGood = (await proxy.warden.views.readState(scope)).tokenBudget as number;
    expect(knownGood).toBe(Math.floor((2_000_000 * 0.97 * 2) / 60));
    expect((await send()).status).toBe(429);
    expect((await proxy.warden.views.readState(scope)).tokenBudget).toBe(49);

    // The next request waits in the queue for the cut (not for a cooldown: 200 ms, already over), then probes.
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect((await send()).status).toBe(200);
    expect(await proxy.warden.views.readState(scope)).toMatchObject({ cooldownUntil: null, tokenBudget: knownGood });
    const metrics = (await scrape(proxy.url)).scrape;
    expect(metrics.value('ratewarden_budget_changes_total', { scope, kind: 'cut', dimension: 'tokens' })).toBe(1);
    expect(metrics.value('ratewarden_budget_changes_total', { scope, kind: 'recovery', dimension: 'tokens' })).toBe(1);
    await proxy.close();

    const lines = written
      .join('')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as JsonLine);
    const about = (event: string): JsonLine[] => lines.filter((line) => line.event === event && line.message.startsWith('tokens budget'));
    expect(about('budget-cut')).toEqual([
      expect.objectContaining({ message: expect.stringMatching(new RegExp(`cut: ${knownGood} → 49 per 2s window; upstream 429`)) }),
    ]);
    expect(about('budget-recovered')).toEqual([
      expect.objectContaining({ message: expect.stringMatching(new RegExp(`recovered: 49 → ${knownGood} .*cut healed`)) }),
    ]);
    // Once: the state's own budget lines ("token budget A → B") are not logged besides.
    expect(lines.filter((line) => /^token budget/.test(line.message))).toEqual([]);
  });
});
