import type { IncomingHttpHeaders } from 'node:http';
import { chargedUsage, chargeRules } from '../core/chargeRules.js';
import type { Refill, Report } from '../core/reported.js';
import type { TokenMetric } from '../core/types.js';
import { formatDuration } from '../kernel/durations.js';
import type { Clock } from '../kernel/clock.js';
import type { HeadInput, SettleInput } from '../warden/eventTypes.js';
import type { Record429Outcome } from '../warden/upstream429Recorder.js';
import type { Warden } from '../warden/warden.js';
import type { ExchangeRecorder } from './forward.js';
import type { Logger } from '../kernel/log.js';
import type { ProviderAdapter } from './providers/adapter.js';
import { unreadableUsage, type TokenUsage, type UsageReading } from './providers/types.js';
import { limitsForBudget } from './reportedLimits.js';
import type { CachedShareLearner } from './cachedShareLearner.js';

export interface RecorderSetup {
  warden: Warden;
  tokenMetric: TokenMetric;
  /** `--limit-shape`: auto keeps what each header family implies; otherwise every report is said to refill so. */
  limitShape: 'auto' | 'token-bucket' | 'sliding-window';
  clock: Clock;
  log: Logger;
  /** Called after each settle and each head: budget was given back, or the probe was judged, so the admission queue looks again. */
  onSettled?: () => void;
  /** Learns the cached share of each settled answer's input, for the next estimate. */
  cachedShares: CachedShareLearner;
}

const nothing: TokenUsage = { inputTokens: 0, outputTokens: 0 };

/** Usage that cannot be read counts as none seen: the reservation stands. */
const countsOf = (usage: UsageReading): TokenUsage | null => (usage === unreadableUsage ? null : usage);

/** The request an exchange recorder records, as the request path knows it. */
export interface ExchangeRequest {
  method: string;
  path: string;
  provider: ProviderAdapter;
  scope: string;
  session: string | null;
  estimatedInput: number;
}

/**
 * Turns the outcome of one forwarded request into its warden event. A failure to record is
 * logged, not thrown: the answer has already gone to the client, and the next admission will
 * find the store unavailable and refuse on its own.
 */
export function exchangeRecorder(setup: RecorderSetup, requestId: number, request: ExchangeRequest): ExchangeRecorder {
  return new RecordingExchange(setup, requestId, request);
}

class RecordingExchange implements ExchangeRecorder {
  private readonly rule: (typeof chargeRules)[keyof typeof chargeRules];
  private readonly refill: Refill | null;
  private readonly where: string;
  /** The head's event, when there was one: the settle comes after it, so a report is never adopted after the usage that followed it. */
  private headRecorded: Promise<void> = Promise.resolve();
  /** A head not yet asked of the warden: the answer's end, when it comes in the same turn, records both in one transaction. */
  private pendingHead: HeadInput | null = null;

  constructor(
    private readonly setup: RecorderSetup,
    private readonly requestId: number,
    private readonly request: ExchangeRequest,
  ) {
    this.rule = chargeRules[request.provider.name];
    this.refill = setup.limitShape === 'auto' ? null : setup.limitShape === 'token-bucket' ? 'bucket' : 'window';
    this.where = `${request.method} ${request.path}`;
  }

  /** What the upstream counts of the usage read: the settle replaces the charge by it. */
  private counted(usage: TokenUsage | null): TokenUsage | null {
    return usage === null ? null : chargedUsage(this.rule, usage);
  }

  private reportsOf(headers: IncomingHttpHeaders, now: number): Report[] {
    const reports = this.request.provider.readReports(headers, now);
    const { refill } = this;
    return refill === null ? reports : reports.map((report) => ({ ...report, refill }));
  }

  /** Not awaited by the request path. On SQLite a settle asked here commits before anything asked after it; on PostgreSQL a later admission may still see its reservation, which only errs on the safe side. */
  private record(what: string, work: () => Promise<void>): Promise<void> {
    return work().catch((error: unknown) => {
      this.setup.log.error('record-failed', `could not record ${what} for ${this.where}: ${(error as Error).message}`, {
        requestId: this.requestId,
      });
    });
  }

  rateLimited(headers: IncomingHttpHeaders, quota?: string | null): Promise<void> {
    const { warden, tokenMetric, clock, log } = this.setup;
    return this.record('an upstream 429', async () => {
      const now = clock();
      const reported = this.request.provider.readLimits(headers, now);
      const input = {
        retryAfterMs: reported.retryAfterMs ?? null,
        reported: limitsForBudget(reported, tokenMetric),
        reports: this.reportsOf(headers, now),
        reportsReadAt: now,
        quota: quota ?? null,
      };
      let outcome: Record429Outcome;
      try {
        outcome = await warden.upstream429s.record429(this.requestId, input);
      } finally {
        this.setup.onSettled?.();
      }
      log429Outcome(log, { where: this.where, requestId: this.requestId, quota: quota ?? null }, outcome);
    });
  }

  headArrived(status: number, headers: IncomingHttpHeaders, at?: number): void {
    const { warden, tokenMetric, clock } = this.setup;
    // The report is as old as this head, whenever the transaction runs.
    const now = at ?? clock();
    const reported = this.request.provider.readLimits(headers, now);
    this.pendingHead = {
      status,
      reported: limitsForBudget(reported, tokenMetric),
      reports: this.reportsOf(headers, now),
      reportsReadAt: now,
    };
    // Asked at the turn's end (the check phase): a small answer has ended by then, and its
    // settle takes the head with it (one transaction, not two); a stream's head goes alone.
    this.headRecorded = new Promise<void>((resolve) => {
      setImmediate(() => {
        const head = this.takePendingHead();
        if (head === null) return resolve();
        const recorded = this.record("the answer's head", async () => {
          try {
            await warden.observeHead(this.requestId, head);
          } finally {
            this.setup.onSettled?.();
          }
        });
        resolve(recorded);
      });
    });
  }

  /** The head not yet asked of the warden, taken by whoever asks it first. */
  private takePendingHead(): HeadInput | null {
    const head = this.pendingHead;
    this.pendingHead = null;
    return head;
  }

  answered(status: number, _headers: IncomingHttpHeaders, usage: UsageReading): void {
    const { request } = this;
    const head = this.takePendingHead() ?? undefined;
    void this.record('the answer', async () => {
      await this.headRecorded;
      if (usage !== null && usage !== unreadableUsage && status < 300)
        this.setup.cachedShares.learn(request.scope, request.session, request.estimatedInput, usage);
      const settle: SettleInput = {
        outcome: status >= 500 ? 'upstream-error' : 'ok',
        status,
        // An error answer without usage generated nothing; a success without usage, and any
        // answer whose usage cannot be read, keeps its reservation (null).
        usage: usage === unreadableUsage ? null : this.counted(usage ?? (status >= 400 ? nothing : null)),
        reportedSettle: this.rule.settle,
      };
      await this.setup.warden.settle(this.requestId, settle, head);
      this.setup.onSettled?.();
    });
  }

  cutShort(usage: UsageReading): void {
    const head = this.takePendingHead() ?? undefined;
    void this.record('an interrupted request', async () => {
      try {
        await this.headRecorded;
        const settle: SettleInput = {
          outcome: 'aborted',
          status: null,
          usage: this.counted(countsOf(usage)),
          reportedSettle: this.rule.settle,
        };
        await this.setup.warden.settle(this.requestId, settle, head);
      } finally {
        this.setup.onSettled?.();
      }
    });
  }

  failed(kind: 'unreachable' | 'timeout', detail: string, reachedUpstream: boolean): void {
    void this.record('a failed request', async () => {
      try {
        await this.setup.warden.settle(this.requestId, { outcome: kind, status: null, usage: null, reachedUpstream });
      } finally {
        this.setup.onSettled?.();
      }
    });
    const event = kind === 'timeout' ? 'upstream-timeout' : 'upstream-unreachable';
    this.setup.log.warn(
      event,
      `${this.where}: the upstream ${kind === 'timeout' ? 'did not answer in time' : 'cannot be reached'} (${detail}); answered ${kind === 'timeout' ? 504 : 502}`,
      { requestId: this.requestId },
    );
  }
}

/** What became of an upstream 429, told once: held, a quota stop, a cooldown begun, or one more 429 of the incident in progress. */
function log429Outcome(log: Logger, exchange: { where: string; requestId: number; quota: string | null }, outcome: Record429Outcome): void {
  const { where, requestId, quota } = exchange;
  if (outcome.kind === 'held') {
    // Never dropped: held in memory, retried at every tick, and every request refused until then.
    log.error(
      'upstream-429-held',
      `upstream answered 429 for ${where}, but it cannot be recorded yet (${outcome.because}); it is held and retried at every tick, and every request is refused locally until it is recorded`,
      { requestId },
    );
    return;
  }
  const { result } = outcome;
  if (result === null) return;
  if (result.quota) {
    log.error(
      'quota-exhausted',
      `upstream answered 429 for ${where}: the quota or spend limit ran out (${quota ?? 'quota'}); group ${result.scope} is stopped: its requests are answered locally (reason quota) until a probe after ${new Date(result.cooldownUntil).toISOString()} is served`,
      { requestId, scope: result.scope },
    );
    return;
  }
  const until = new Date(result.cooldownUntil).toISOString();
  const fields = {
    requestId,
    scope: result.scope,
    sharedWith: result.sharedWith.join(' '),
    consecutive429s: result.consecutive429s,
    cooldownMs: result.cooldownMs,
    cooldownUntil: until,
  };
  const shared =
    result.sharedWith.length === 0
      ? ''
      : `; its headers show room on every limit of the scope, so the limit hit is shared: ${result.sharedWith.length} other scopes of the key cool with it`;
  if (result.escalated) {
    log.warn(
      'cooldown-start',
      `upstream answered 429 for ${where} (${result.consecutive429s} in a row); cooling down scope ${result.scope} for ${formatDuration(result.cooldownMs)}, until ${until}: its requests are answered locally until then${shared}`,
      fields,
    );
  } else {
    log.warn(
      'upstream-429',
      `upstream answered 429 for ${where}, of the incident in progress (sent before its cooldown began, or under the key's own scope before the key joined its group); the cooldown of scope ${result.scope} now ends at ${until}${shared}`,
      fields,
    );
  }
}
