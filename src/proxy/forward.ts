import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ProviderAdapter } from './providers/adapter.js';
import type { UsageTap } from './providers/usageTap.js';
import type { UsageReading } from './providers/types.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { sendLocalReply } from './localReplies.js';
import { readErrorBody } from './errorBody.js';
import type { UpstreamTransport } from './upstreamAgent.js';

/** What happened to one forwarded request; each exchange reports exactly one outcome. */
export interface ExchangeRecorder {
  /**
   * The upstream answered 429: reported once its (small) body has arrived, before anything is
   * relayed; `quota` is the upstream's words when the body says the quota ran out (not a rate
   * limit). Settles (never rejects) once the 429 is recorded, or held when it cannot be: only
   * then is it relayed.
   */
  rateLimited(headers: IncomingHttpHeaders, quota?: string | null): Promise<void>;
  /** The answer's head arrived (any status but 429): its rate-limit headers are as old as `at` (now, when not given). */
  headArrived(status: number, headers: IncomingHttpHeaders, at?: number): void;
  answered(status: number, headers: IncomingHttpHeaders, usage: UsageReading): void;
  /** The client went away, or the upstream's answer broke off: what was seen so far. */
  cutShort(usage: UsageReading): void;
  /** `reachedUpstream`: bytes of the request may have reached the upstream, so it may have been served. */
  failed(kind: 'unreachable' | 'timeout', detail: string, reachedUpstream: boolean): void;
}

export interface ForwardSetup {
  upstream: URL;
  transport: UpstreamTransport;
  upstreamTimeoutMs: number;
}

export interface ForwardInput {
  request: IncomingMessage;
  response: ServerResponse;
  body: Buffer;
  /** Null when the client sent no body framing; then none is sent upstream either. */
  bodyLength: number | null;
  upstreamPath: string;
  /** The request's provider, chosen once by the server. */
  provider: ProviderAdapter;
  /**
   * UNSAFE (`--unsafe-retry-rate-limited-after`): a 429 is recorded but not relayed, so that the caller
   * can resend the request later, as the seed's proxy did.
   */
  hold429?: boolean;
}

/** `held-429`: the upstream answered 429 and, as asked, nothing was sent to the client. */
export type ForwardResult = 'relayed' | 'held-429';

const STALE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE']);

/** Methods whose repetition does no harm (RFC 9110 §9.2.2): the only ones resent after bytes went out. */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

function errorCode(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code : error.message;
}

/* What a request that closed without an error or an answer reports; no Error is built for the
   close every request ends with. */
const CLOSED_BEFORE_ANSWER = 'connection closed before an answer';

/**
 * Sends one admitted request to the pinned upstream and relays the answer byte for byte while a
 * copy feeds the usage tap. Resolves once the answer has been relayed (or abandoned) and its
 * outcome reported.
 */
export function forward(setup: ForwardSetup, input: ForwardInput, recorder: ExchangeRecorder): Promise<ForwardResult> {
  const { upstream, transport } = setup;
  const { request, response, body, bodyLength, provider } = input;
  const headers = upstreamRequestHeaders(request.rawHeaders, upstream.host, bodyLength);

  return new Promise<ForwardResult>((resolveWith) => {
    const resolve = (): void => resolveWith('relayed');
    let reported = false;
    let answered = false;
    let timedOut = false;
    let clientGone = false;
    let attempts = 0;
    let current: ClientRequest | undefined;
    // Whether any byte of the current attempt may have reached the upstream.
    let written: () => boolean = () => false;

    const report = (record: () => void): void => {
      if (reported) return;
      reported = true;
      clearTimeout(timer);
      record();
    };
    const finish = (record: () => void): void => {
      report(record);
      resolve();
    };

    const timer = setTimeout(() => {
      timedOut = true;
      current?.destroy();
    }, setup.upstreamTimeoutMs);

    response.once('close', () => {
      if (response.writableFinished) return;
      clientGone = true;
      current?.destroy();
    });

    /** `code`: the error's code (ECONNRESET), or what happened when there is none. */
    function failBeforeAnswer(sent: ClientRequest, code: string): void {
      if (sent !== current || answered || reported) return;
      if (clientGone) return finish(() => recorder.cutShort(null));
      if (timedOut) {
        const seconds = Math.round(setup.upstreamTimeoutMs / 1000);
        sendLocalReply(response, provider, {
          reason: 'upstream-timeout',
          message: `the upstream ${upstream.origin} did not start answering within ${seconds} s (--upstream-timeout)`,
        });
        return finish(() => recorder.failed('timeout', `no answer within ${setup.upstreamTimeoutMs} ms`, written()));
      }
      // A kept-alive socket the server closed just as it was reused. Sent again only when nothing
      // of it went out, or when sending it twice does no harm: a POST the upstream read is not resent.
      const resendable = !written() || IDEMPOTENT_METHODS.has(request.method ?? 'GET');
      if (sent.reusedSocket && attempts === 1 && STALE_SOCKET_CODES.has(code) && resendable) return send();
      sendLocalReply(response, provider, {
        reason: 'upstream-unreachable',
        message: `the upstream ${upstream.origin} cannot be reached (${code})`,
      });
      const reached = written();
      finish(() => recorder.failed('unreachable', code, reached));
    }

    /* A fresh connection carries nothing until it is established (and, for TLS, secured); on a
       reused one the request goes out at once, so any byte handed to it may have arrived. */
    function trackWrites(sent: ClientRequest, socket: Socket): void {
      if (sent !== current) return;
      if (!socket.connecting) {
        const before = socket.bytesWritten;
        written = () => socket.bytesWritten > before;
        return;
      }
      let connected = false;
      socket.once(upstream.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
        connected = true;
      });
      written = () => connected;
    }

    function relay(answer: IncomingMessage): void {
      answered = true;
      clearTimeout(timer);
      const status = answer.statusCode ?? 502;
      answer.on('error', () => undefined);
      if (status !== 429) recorder.headArrived(status, answer.headers);
      if (clientGone) {
        answer.destroy();
        return finish(() => recorder.cutShort(null));
      }
      if (status === 429) {
        let recorded = Promise.resolve();
        // The body says whether the quota ran out rather than a rate limit; it is relayed as read.
        const body = readErrorBody(answer);
        report(() => {
          recorded = body.then((read) => recorder.rateLimited(answer.headers, read.quota));
        });
        // The cooldown is durable before the client sees the 429 that caused it: a crash in
        // between must not leave a client that was told "429" facing a proxy that forgot it.
        void recorded.then(() => {
          if (input.hold429 === true) {
            answer.resume();
            return resolveWith('held-429');
          }
          if (clientGone || (answer.destroyed && !answer.complete)) {
            // Gone while the 429 was recorded: the client must see a broken answer, not an empty one.
            answer.destroy();
            response.destroy();
            return resolve();
          }
          void body.then((read) => pass(answer, status, read.chunks));
        });
        return;
      }
      pass(answer, status);
    }

    function pass(answer: IncomingMessage, status: number, alreadyRead: readonly Buffer[] = []): void {
      response.writeHead(status, answer.statusMessage, clientResponseHeaders(answer.rawHeaders));
      for (const chunk of alreadyRead) response.write(chunk);
      if (answer.readableEnded) {
        response.end();
        return resolve();
      }
      const tap: UsageTap | null =
        status === 429 ? null : provider.usageTap({ contentType: answer.headers['content-type'], contentEncoding: answer.headers['content-encoding'] });
      if (tap !== null) answer.on('data', (chunk: Buffer) => tap.write(chunk));
      answer.pipe(response);
      answer.once('end', () => {
        if (tap === null) return resolve();
        void tap.end().then((usage) => finish(() => recorder.answered(status, answer.headers, usage)));
      });
      answer.once('close', () => {
        if (answer.complete) return;
        // The client must see a broken answer, not one that looks complete.
        response.destroy();
        finish(() => recorder.cutShort(tap?.seenSoFar() ?? null));
      });
    }

    function send(): void {
      attempts += 1;
      const sent = transport.request({
        agent: transport.agent,
        protocol: upstream.protocol,
        hostname: upstream.hostname.replace(/^\[|\]$/g, ''),
        port: upstream.port === '' ? undefined : Number(upstream.port),
        method: request.method,
        path: input.upstreamPath,
        headers,
        setHost: false,
      });
      current = sent;
      written = () => false;
      sent.once('socket', (socket: Socket) => trackWrites(sent, socket));
      sent.once('response', relay);
      sent.on('error', (error) => failBeforeAnswer(sent, errorCode(error)));
      sent.once('close', () => failBeforeAnswer(sent, CLOSED_BEFORE_ANSWER));
      if (clientGone || timedOut) sent.destroy();
      if (bodyLength === null) sent.end();
      else sent.end(body);
    }

    send();
  });
}
