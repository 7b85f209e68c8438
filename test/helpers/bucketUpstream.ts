import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A test-local Anthropic upstream that accounts as Anthropic documents its limits (see
 * docs/proxy.md, "Accounting as the upstream accounts"): three token buckets per minute,
 * refilled continuously; RPM one per request; ITPM `input_tokens + cache_creation_input_tokens`
 * (a real prefix cache: cache reads are not counted); OTPM `max_tokens` when the request starts,
 * corrected to the real output when its stream ends; the rate-limit headers on the response
 * head. The test can hold heads and bodies, so that what happens meanwhile is by construction.
 * (The full instrument, with agents, lives in src/sim; this one is small on purpose.)
 */
export interface BucketLimits {
  rpm: number;
  itpm: number;
  otpm: number;
}

export interface BucketUpstream {
  url: string;
  /** Holds the head of every answer from now on until the returned function is called. */
  holdHeads(): () => void;
  /** Holds the end of every stream from now on (after its head and first event) until the returned function is called. */
  holdBodies(): () => void;
  /** The next `count` requests are answered 429 with `retry-after` seconds, whatever the buckets hold. */
  refuseNext(count: number, retryAfterSeconds: number): void;
  stats(): { requests: number; rateLimited: number; streaming: number; maxStreaming: number };
  close(): Promise<void>;
}

class Bucket {
  private level: number;
  private at: number;

  constructor(
    readonly capacity: number,
    private readonly periodMs: number,
  ) {
    this.level = capacity;
    this.at = Date.now();
  }

  now(): number {
    const now = Date.now();
    this.level = Math.min(this.capacity, this.level + ((now - this.at) * this.capacity) / this.periodMs);
    this.at = now;
    return this.level;
  }

  fits(amount: number): boolean {
    return amount <= this.now();
  }

  take(amount: number): void {
    this.level = this.now() - amount;
  }

  give(amount: number): void {
    this.level = Math.min(this.capacity, this.now() + amount);
  }

  msUntilFull(): number {
    return ((this.capacity - this.now()) * this.periodMs) / this.capacity;
  }

  msUntil(amount: number): number {
    return Math.max(0, ((amount - this.now()) * this.periodMs) / this.capacity);
  }
}

/** Four characters a token, as the proxy's own estimate; what matters is that both sides count the same way. */
const tokensOf = (value: unknown): number => Math.ceil(JSON.stringify(value).length / 4);

function resetHeader(now: number, ms: number): string {
  return new Date(Math.ceil((now + ms) / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

class Gate {
  private opened: Promise<void> = Promise.resolve();

  hold(): () => void {
    let open: () => void = () => undefined;
    this.opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    return open;
  }

  passed(): Promise<void> {
    return this.opened;
  }
}

export async function startBucketUpstream(limits: BucketLimits, outputTokens: number, periodMs = 60_000): Promise<BucketUpstream> {
  const requests = new Bucket(limits.rpm, periodMs);
  const input = new Bucket(limits.itpm, periodMs);
  const output = new Bucket(limits.otpm, periodMs);
  const cache = new Set<string>();
  const heads = new Gate();
  const bodies = new Gate();
  let refusals: { count: number; retryAfterSeconds: number } = { count: 0, retryAfterSeconds: 0 };
  const counts = { requests: 0, rateLimited: 0, streaming: 0, maxStreaming: 0 };

  function limitHeaders(): OutgoingHttpHeaders {
    const now = Date.now();
    const family = (name: string, bucket: Bucket): OutgoingHttpHeaders => ({
      [`anthropic-ratelimit-${name}-limit`]: String(bucket.capacity),
      [`anthropic-ratelimit-${name}-remaining`]: String(Math.max(0, Math.floor(bucket.now()))),
      [`anthropic-ratelimit-${name}-reset`]: resetHeader(now, bucket.msUntilFull()),
    });
    return { ...family('requests', requests), ...family('input-tokens', input), ...family('output-tokens', output) };
  }

  function refuse(response: ServerResponse, retryAfterMs: number): void {
    counts.rateLimited += 1;
    response.writeHead(429, {
      'content-type': 'application/json',
      'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
      ...limitHeaders(),
    });
    response.end(
      JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'This request would exceed your rate limit' } }),
    );
  }

  async function answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    counts.requests += 1;
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { max_tokens: number; messages: unknown[]; model: string };
    const { messages } = body;
    let read = 0;
    for (let length = messages.length - 1; length > 0; length--) {
      if (cache.has(JSON.stringify(messages.slice(0, length)))) {
        read = tokensOf(messages.slice(0, length));
        break;
      }
    }
    const total = tokensOf(messages);
    const creation = Math.max(0, total - read - 1);
    const uncached = total - read - creation;
    const charged = uncached + creation;
    if (refusals.count > 0) {
      refusals.count -= 1;
      return refuse(response, refusals.retryAfterSeconds * 1000);
    }
    if (!requests.fits(1) || !input.fits(charged) || !output.fits(body.max_tokens)) {
      return refuse(response, Math.max(requests.msUntil(1), input.msUntil(charged), output.msUntil(body.max_tokens)));
    }
    requests.take(1);
    input.take(charged);
    output.take(body.max_tokens);
    cache.add(JSON.stringify(messages));
    const usage = { input_tokens: uncached, cache_creation_input_tokens: creation, cache_read_input_tokens: read };
    const headers = limitHeaders();
    await heads.passed();
    counts.streaming += 1;
    counts.maxStreaming = Math.max(counts.maxStreaming, counts.streaming);
    response.writeHead(200, { 'content-type': 'text/event-stream', ...headers });
    const event = (type: string, payload: object): void => {
      response.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`);
    };
    event('message_start', {
      message: {
        id: `msg_${counts.requests}`,
        type: 'message',
        role: 'assistant',
        model: body.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage, output_tokens: 1 },
      },
    });
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hello' } });
    await bodies.passed();
    event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: ' there.' } });
    event('content_block_stop', { index: 0 });
    event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { ...usage, output_tokens: outputTokens } });
    event('message_stop', {});
    // The pre-charge is corrected to the real output as the stream ends.
    output.give(body.max_tokens - outputTokens);
    counts.streaming -= 1;
    response.end();
  }

  const sockets = new Set<Socket>();
  const server = createServer((request, response) => {
    answer(request, response).catch(() => response.destroy());
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    holdHeads: () => heads.hold(),
    holdBodies: () => bodies.hold(),
    refuseNext: (count, retryAfterSeconds) => {
      refusals = { count, retryAfterSeconds };
    },
    stats: () => ({ ...counts }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
