import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ProxyHarness, postJson, readRows } from './harness.js';

const harness = new ProxyHarness();
afterEach(() => harness.closeAll());

const question = [{ role: 'user' as const, content: 'Hello there' }];
const orgA = 'aaaaaaaa-1111-2222-3333-444444444444';
const orgB = 'bbbbbbbb-1111-2222-3333-444444444444';

interface Seen {
  key: string;
  model: string;
}

/**
 * An upstream that answers as Anthropic (or OpenAI) does for keys of several organizations:
 * every answer names the key's organization and reports its request limit (the key's own when a
 * workspace lowered it); `refuse` decides per request whether to answer 429 and with what.
 */
async function organizationsUpstream(options: {
  provider: 'anthropic' | 'openai';
  organizationOf: (key: string) => string;
  requestLimitOf?: (key: string) => number;
  refuse?: (seen: Seen) => 'rate-limit' | 'quota' | null;
}) {
  const seen: Seen[] = [];
  const upstream = await harness.upstream((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const { model } = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { model: string };
      // As the upstream authenticates: Anthropic's x-api-key, else the Bearer token its SDK sends.
      const bearer = String(request.headers.authorization).replace(/^Bearer /, '');
      const key = options.provider === 'anthropic' ? String(request.headers['x-api-key'] ?? bearer) : bearer;
      const entry = { key, model };
      seen.push(entry);
      const limit = options.requestLimitOf?.(key) ?? 50;
      const refusal = options.refuse?.(entry) ?? null;
      const reset = new Date(Date.now() + 30_000).toISOString();
      const headers: Record<string, string> =
        options.provider === 'anthropic'
          ? {
              'anthropic-organization-id': options.organizationOf(key),
              'anthropic-ratelimit-requests-limit': String(limit),
              'anthropic-ratelimit-requests-remaining': refusal === 'rate-limit' ? '0' : String(limit - 1),
              'anthropic-ratelimit-requests-reset': reset,
            }
          : { 'openai-organization': options.organizationOf(key), 'openai-project': 'proj_1' };
      if (refusal !== null) {
        const body =
          refusal === 'quota'
            ? options.provider === 'openai'
              ? {
                  error: {
                    message: 'You exceeded your current quota, please check your plan and billing details.',
                    type: 'insufficient_quota',
                    param: null,
                    code: 'insufficient_quota',
                  },
                }
              : {
                  type: 'error',
                  error: {
                    type: 'rate_limit_error',
                    message: 'Your organization has reached its monthly spend cap.',
                    details: { error_code: 'enforced_spend_limit_reached' },
                  },
                }
            : options.provider === 'openai'
              ? { error: { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' } }
              : {
                  type: 'error',
                  error: { type: 'rate_limit_error', message: 'Number of requests has exceeded your per-minute rate limit' },
                };
        response.writeHead(429, {
          'content-type': 'application/json',
          ...(refusal === 'rate-limit' ? { 'retry-after': '30' } : {}),
          ...headers,
        });
        response.end(JSON.stringify(body));
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json', ...headers });
      const answer =
        options.provider === 'anthropic'
          ? {
              id: 'msg_1',
              type: 'message',
              role: 'assistant',
              model,
              content: [{ type: 'text', text: 'Hi' }],
              stop_reason: 'end_turn',
              usage: { input_tokens: 7, output_tokens: 3 },
            }
          : {
              id: 'chatcmpl-1',
              object: 'chat.completion',
              created: 1,
              model,
              choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
              usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
            };
      response.end(JSON.stringify(answer));
    });
  });
  return { url: upstream.url, seen };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

const learnedKeys = (dbPath: string): number => readRows<{ n: number }>(dbPath, 'SELECT count(*) AS n FROM key_organizations')[0]?.n ?? 0;

function anthropicClient(url: string, key: string): Anthropic {
  return new Anthropic({ apiKey: key, baseURL: url, maxRetries: 0 });
}

async function refusalOf(call: Promise<unknown>): Promise<InstanceType<typeof Anthropic.APIError>> {
  const error = await call.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(Anthropic.APIError);
  return error as InstanceType<typeof Anthropic.APIError>;
}

describe('limit groups through the real proxy (the official Anthropic SDK)', () => {
  it("keys of one organization share its group: an organization-wide 429 cools every key of it, and never another organization's", async () => {
    let refuseNext = false;
    const upstream = await organizationsUpstream({
      provider: 'anthropic',
      organizationOf: (key) => (key.startsWith('a-') ? orgA : orgB),
      refuse: () => (refuseNext ? 'rate-limit' : null),
    });
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', backoffBase: '30s' });
    const [a1, a2, b1] = ['a-key-one', 'a-key-two', 'b-key-one'].map((key) => anthropicClient(proxy.url, key)) as [
      Anthropic,
      Anthropic,
      Anthropic,
    ];

    for (const [client, learned] of [
      [a1, 1],
      [a2, 2],
      [b1, 3],
    ] as const) {
      await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 20, messages: question });
      await until(() => learnedKeys(dbPath) === learned);
    }
    // The mapping is kept by fingerprint: no key in the database.
    const stored = JSON.stringify(readRows(dbPath, 'SELECT * FROM key_organizations'));
    expect(stored).not.toContain('a-key-one');
    expect(stored).toContain(orgA);

    refuseNext = true;
    expect((await refusalOf(a1.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 20, messages: question }))).status).toBe(429);
    refuseNext = false;
    const local = await refusalOf(a2.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 20, messages: question }));
    expect(local).toBeInstanceOf(Anthropic.RateLimitError);
    expect(local.headers?.get('x-ratewarden-reason')).toBe('cooldown');
    expect(local.headers?.get('x-ratewarden-scope')).toBe(`org:${orgA}/claude-sonnet`);
    // The other organization is not slowed.
    await b1.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 20, messages: question });
    expect(upstream.seen.map((entry) => entry.key)).toEqual(['a-key-one', 'a-key-two', 'b-key-one', 'a-key-one', 'b-key-one']);
    expect(
      readRows<{ scope: string }>(dbPath, 'SELECT DISTINCT scope FROM requests WHERE admitted_at > 0 ORDER BY scope').map(
        (row) => row.scope,
      ),
    ).toContain(`org:${orgB}/claude-sonnet`);
  });

  it("a key joins its group at the head of its first answer, with the head's reports: the next request counts in the group while the first still streams", async () => {
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const reset = () => new Date(Date.now() + 30_000).toISOString();
    const upstream = await harness.upstream((request: IncomingMessage, response: ServerResponse) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(200, {
          'content-type': 'text/event-stream',
          'anthropic-organization-id': orgA,
          'anthropic-ratelimit-requests-limit': '50',
          'anthropic-ratelimit-requests-remaining': '40',
          'anthropic-ratelimit-requests-reset': reset(),
        });
        const message = {
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          model: 'claude-sonnet-4-5',
          content: [],
          stop_reason: null,
          usage: { input_tokens: 7, output_tokens: 1 },
        };
        response.write(`event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message })}\n\n`);
        void released.then(() => {
          response.write(
            `event: message_delta\ndata: ${JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 3 } })}\n\n`,
          );
          response.end(`event: message_stop\ndata: {"type":"message_stop"}\n\n`);
        });
      });
    });
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic' });
    const send = () =>
      fetch(`${proxy.url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': 'a-key-one', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 20, stream: true, messages: question }),
      });
    const head = await send();
    expect(head.status).toBe(200);
    // The stream is still open: the key is in its organization's group, which holds the head's report.
    await until(() => learnedKeys(dbPath) === 1);
    const group = `org:${orgA}/claude-sonnet`;
    await until(
      () => readRows(dbPath, `SELECT 1 FROM reported_remaining WHERE scope = '${group}' AND dimension = 'requests'`).length === 1,
    );
    const next = await send();
    expect(next.status).toBe(200);
    expect(readRows<{ scope: string }>(dbPath, 'SELECT scope FROM requests ORDER BY id').map((row) => row.scope)).toEqual([group, group]);
    release();
    await Promise.all([head.arrayBuffer(), next.arrayBuffer()]);
  });

  it("a 429 on a key's own (workspace) limit cools that key only; the rest of its organization keeps going", async () => {
    let refuseWorkspace = false;
    const upstream = await organizationsUpstream({
      provider: 'anthropic',
      organizationOf: () => orgA,
      requestLimitOf: (key) => (key === 'workspace-key' ? 5 : 50),
      refuse: ({ key }) => (refuseWorkspace && key === 'workspace-key' ? 'rate-limit' : null),
    });
    const { proxy, dbPath } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', backoffBase: '30s' });
    const full = anthropicClient(proxy.url, 'full-key');
    const workspace = anthropicClient(proxy.url, 'workspace-key');
    await full.messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: question });
    await until(() => learnedKeys(dbPath) === 1);
    await workspace.messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: question });
    await until(() => learnedKeys(dbPath) === 2);

    refuseWorkspace = true;
    expect((await refusalOf(workspace.messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: question }))).status).toBe(
      429,
    );
    const local = await refusalOf(workspace.messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: question }));
    expect(local.headers?.get('x-ratewarden-reason')).toBe('cooldown');
    await full.messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: question });
    expect(upstream.seen.map((entry) => entry.key)).toEqual(['full-key', 'workspace-key', 'workspace-key', 'full-key']);
  });

  it('a spend-limit 429 stops the group with a local error that names the quota', async () => {
    let quota = true;
    const upstream = await organizationsUpstream({
      provider: 'anthropic',
      organizationOf: () => orgA,
      refuse: () => (quota ? 'quota' : null),
    });
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'anthropic', quotaProbeInterval: '10m' });
    const client = anthropicClient(proxy.url, 'a-key');
    expect((await refusalOf(client.messages.create({ model: 'claude-opus-4-5', max_tokens: 20, messages: question }))).status).toBe(429);
    quota = false;
    const local = await refusalOf(client.messages.create({ model: 'claude-opus-4-5', max_tokens: 20, messages: question }));
    expect(local).toBeInstanceOf(Anthropic.RateLimitError);
    expect(local.headers?.get('x-ratewarden-reason')).toBe('quota');
    expect(Number(local.headers?.get('retry-after'))).toBeGreaterThan(590);
    expect(local.message).toMatch(/quota or spend limit/);
    expect(upstream.seen).toHaveLength(1);
  });
});

describe('quota and credentials through the real proxy (the official OpenAI SDK)', () => {
  it('insufficient_quota: the next 100 requests get the local error at once, none forwarded until the probe, which resumes the group', async () => {
    let quota = true;
    const upstream = await organizationsUpstream({
      provider: 'openai',
      organizationOf: () => 'org-abc',
      refuse: () => (quota ? 'quota' : null),
    });
    // The proxy's clock is moved past the probe interval instead of waiting it out.
    let skipped = 0;
    const { proxy } = await harness.proxy(
      { upstream: upstream.url, provider: 'openai', quotaProbeInterval: '10m' },
      { clock: () => Date.now() + skipped },
    );
    const client = new OpenAI({ apiKey: 'sk-quota', baseURL: `${proxy.url}/v1`, maxRetries: 0 });
    const first = await client.chat.completions.create({ model: 'gpt-4o', messages: question }).catch((error: unknown) => error);
    expect(first).toBeInstanceOf(OpenAI.RateLimitError);

    const body = JSON.stringify({ model: 'gpt-4o', messages: question });
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => postJson(`${proxy.url}/v1/chat/completions`, body, { authorization: 'Bearer sk-quota' })),
    );
    expect(new Set(answers.map((answer) => `${answer.status} ${answer.headers.get('x-ratewarden-reason')}`))).toEqual(
      new Set(['429 quota']),
    );
    expect(await answers[0]?.json()).toMatchObject({ error: { type: 'insufficient_quota', code: 'insufficient_quota' } });
    const local = await client.chat.completions.create({ model: 'gpt-4o', messages: question }).catch((error: unknown) => error);
    expect(local).toBeInstanceOf(OpenAI.RateLimitError);
    expect((local as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('insufficient_quota');
    expect(upstream.seen).toHaveLength(1);
    const metrics = await (await fetch(`${proxy.url}/_ratewarden/metrics`)).text();
    expect(metrics).toMatch(/ratewarden_quota_exhausted\{[^}]*scope="org:org-abc:proj_1\/gpt-4o"[^}]*\} 1/);

    // Credits were added; after the probe interval one probe goes, is served, and the group resumes.
    quota = false;
    skipped = 10 * 60_000 + 1_000;
    await client.chat.completions.create({ model: 'gpt-4o', messages: question });
    await until(() => upstream.seen.length === 2);
    await client.chat.completions.create({ model: 'gpt-4o', messages: question });
    expect(upstream.seen).toHaveLength(3);
  });

  it('a client cooling on its Bearer key cannot escape by adding another x-api-key', async () => {
    let refuse = true;
    const upstream = await organizationsUpstream({
      provider: 'openai',
      organizationOf: () => 'org-abc',
      refuse: () => (refuse ? 'rate-limit' : null),
    });
    const { proxy } = await harness.proxy({ upstream: upstream.url, provider: 'openai', backoffBase: '30s' });
    const body = JSON.stringify({ model: 'gpt-4o', messages: question });
    expect((await postJson(`${proxy.url}/v1/chat/completions`, body, { authorization: 'Bearer sk-one' })).status).toBe(429);
    refuse = false;
    const escaped = await postJson(`${proxy.url}/v1/chat/completions`, body, {
      authorization: 'Bearer sk-one',
      'x-api-key': 'random-escape',
    });
    expect(escaped.status).toBe(429);
    expect(escaped.headers.get('x-ratewarden-reason')).toBe('cooldown');
    // Model names differing only in blanks and case are the same group.
    const shouting = await postJson(`${proxy.url}/v1/chat/completions`, JSON.stringify({ model: ' GPT-4o ', messages: question }), {
      authorization: 'Bearer sk-one',
    });
    expect(shouting.headers.get('x-ratewarden-reason')).toBe('cooldown');
    expect(upstream.seen).toHaveLength(1);
  });
});
