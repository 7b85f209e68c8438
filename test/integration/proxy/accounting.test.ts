import Anthropic from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { startBucketUpstream, type BucketUpstream } from '../../helpers/bucketUpstream.js';
import { ProxyHarness, lastScope, recordedRequests, until } from './harness.js';

type MessageStream = ReturnType<Anthropic['messages']['stream']>;

const harness = new ProxyHarness();
const upstreams: BucketUpstream[] = [];
afterEach(async () => {
  await harness.closeAll();
  await Promise.all(upstreams.splice(0).map((upstream) => upstream.close()));
});

async function bucketUpstream(...args: Parameters<typeof startBucketUpstream>): Promise<BucketUpstream> {
  const upstream = await startBucketUpstream(...args);
  upstreams.push(upstream);
  return upstream;
}

/** Resolves when the stream's response head reached the client. */
function connected(stream: MessageStream): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on('connect', () => resolve());
    stream.on('error', reject);
  });
}

/** Polls an asynchronous condition (the test's own timeout bounds it). */
async function eventually(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 5));
}

const question = [{ role: 'user' as const, content: 'Write the next change.' }];

describe('through the proxy, an Anthropic upstream that accounts as Anthropic documents', () => {
  it('two streams with max_tokens 32 000 both go against an 80 000 OTPM bucket, the report known at the first head; a third waits for the refund, and the upstream refuses nothing', async () => {
    const upstream = await bucketUpstream({ rpm: 50, itpm: 30_000, otpm: 80_000 }, 600);
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', maxWait: '1m' });
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: proxy.url, maxRetries: 0 });
    const releaseBodies = upstream.holdBodies();
    const turn = (): MessageStream => client.messages.stream({ model: 'claude-sim', max_tokens: 32_000, messages: question });

    const first = turn();
    await connected(first);
    // A cold proxy knows the limits once the first head is in, while that stream still runs.
    await eventually(async () =>
      (await proxy.warden.views.scopeStates()).some((scope) => scope.reports.some((report) => report.dimension === 'output-tokens')),
    );
    const second = turn();
    await connected(second);
    expect(upstream.stats()).toMatchObject({ requests: 2, streaming: 2 });

    // 80 000 − 2 × 32 000 leaves 16 000: a third would be refused upstream, so it waits here.
    const third = turn();
    await until(() => proxy.queueLength() === 1);
    expect(upstream.stats().requests).toBe(2);

    releaseBodies();
    const answers = await Promise.all([first, second, third].map((stream) => stream.finalMessage()));
    expect(answers.map((message) => message.usage.output_tokens)).toEqual([600, 600, 600]);
    expect(upstream.stats()).toMatchObject({ requests: 3, rateLimited: 0 });
    await proxy.close();
    // The window reserved the learned output (none learned yet: max_tokens), and the settle made it the real output.
    expect(recordedRequests(dbPath).map((row) => [row.outcome, row.output_tokens])).toEqual([
      ['ok', 600],
      ['ok', 600],
      ['ok', 600],
    ]);
  });

  it("a session's cached context holds only the input the upstream charges: ITPM never holds its cache reads", async () => {
    const upstream = await bucketUpstream({ rpm: 50, itpm: 30_000, otpm: 80_000 }, 50);
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', maxWait: '1m' });
    const client = new Anthropic({
      apiKey: 'sk-ant-test',
      baseURL: proxy.url,
      maxRetries: 0,
      defaultHeaders: { 'x-claude-code-session-id': 'session-1' },
    });
    // About 16 000 tokens of context: half the ITPM bucket, charged in full the first time (a cache write).
    const context = { role: 'user' as const, content: 'x'.repeat(64_000) };
    const firstTurn = await client.messages.stream({ model: 'claude-sim', max_tokens: 1_000, messages: [context] }).finalMessage();
    expect(firstTurn.usage).toMatchObject({ cache_read_input_tokens: 0 });
    const secondTurn = await client.messages
      .stream({
        model: 'claude-sim',
        max_tokens: 1_000,
        messages: [context, { role: 'assistant', content: 'Hello there.' }, { role: 'user', content: 'And then?' }],
      })
      .finalMessage();
    expect(secondTurn.usage.cache_read_input_tokens).toBeGreaterThan(15_000);
    expect(upstream.stats().rateLimited).toBe(0);
    await proxy.close();

    const [first, second] = recordedRequests(dbPath);
    // The first turn was estimated and charged whole; the second, mostly cache reads, only its new part.
    expect(first?.est_input_tokens).toBeGreaterThan(15_000);
    expect(first?.input_tokens).toBeGreaterThan(15_000);
    expect(second?.est_input_tokens).toBeLessThan(1_000);
    expect(second?.input_tokens).toBe((secondTurn.usage.input_tokens ?? 0) + (secondTurn.usage.cache_creation_input_tokens ?? 0));
  });

  it("after an upstream 429, requests that come while the probe is out wait instead of a local 429, and go as soon as the probe's head says 200, while it still streams", async () => {
    const upstream = await bucketUpstream({ rpm: 50, itpm: 30_000, otpm: 80_000 }, 100);
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', maxWait: '1m', backoffBase: '300ms' });
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: proxy.url, maxRetries: 0 });
    const turn = (): MessageStream => client.messages.stream({ model: 'claude-sim', max_tokens: 1_000, messages: question });

    upstream.refuseNext(1, 1);
    await expect(turn().finalMessage()).rejects.toBeInstanceOf(Anthropic.RateLimitError);
    const { cooldownUntil } = await proxy.warden.views.readState(lastScope(proxy.warden));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, (cooldownUntil as number) - Date.now()) + 20));

    const releaseHeads = upstream.holdHeads();
    const releaseBodies = upstream.holdBodies();
    const probe = turn();
    await until(() => upstream.stats().requests === 2);
    const waiting = [turn(), turn()];
    await until(() => proxy.queueLength() === 2);
    expect(upstream.stats().requests).toBe(2);

    releaseHeads();
    // The probe's body is still held: the others went on its status alone.
    await Promise.all(waiting.map(connected));
    expect(upstream.stats()).toMatchObject({ requests: 4, streaming: 3 });
    releaseBodies();
    const answers = await Promise.all([probe, ...waiting].map((stream) => stream.finalMessage()));
    expect(answers).toHaveLength(3);
    expect(upstream.stats().rateLimited).toBe(1);
  });

  it('a request that waits for the probe past --max-wait is told the real wait, not a constant second', async () => {
    const upstream = await bucketUpstream({ rpm: 50, itpm: 30_000, otpm: 80_000 }, 100);
    const { proxy } = await harness.proxy({
      upstream: upstream.url,
      provider: 'anthropic',
      maxWait: '200ms',
      backoffBase: '300ms',
      probeTimeout: '1m',
    });
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: proxy.url, maxRetries: 0 });
    const turn = (): MessageStream => client.messages.stream({ model: 'claude-sim', max_tokens: 1_000, messages: question });

    upstream.refuseNext(1, 1);
    await expect(turn().finalMessage()).rejects.toBeInstanceOf(Anthropic.RateLimitError);
    const { cooldownUntil } = await proxy.warden.views.readState(lastScope(proxy.warden));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, (cooldownUntil as number) - Date.now()) + 20));
    const releaseHeads = upstream.holdHeads();
    const probe = turn();
    await until(() => upstream.stats().requests === 2);

    const refused = await turn()
      .finalMessage()
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Anthropic.RateLimitError);
    const headers = (refused as InstanceType<typeof Anthropic.RateLimitError>).headers;
    expect(headers?.get('x-ratewarden-reason')).toBe('probe');
    // Until the probe timeout at the latest (1 min after the probe left), never the old fixed second.
    expect(Number(headers?.get('retry-after-ms'))).toBeGreaterThan(1_000);
    expect(Number(headers?.get('retry-after-ms'))).toBeLessThanOrEqual(60_000);
    releaseHeads();
    await probe.finalMessage();
  });
});
