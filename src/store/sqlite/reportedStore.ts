import type { Database, Statement } from 'better-sqlite3';
import { outputSampleLimit } from '../../core/outputEstimate.js';
import { dimensions, type ReportedRemaining } from '../../core/reported.js';
import { noCarrier, type InFlightTotals, type ReportCarrier } from '../port.js';
import { reportOf, type ReportedDbRow } from '../rows.js';

/** Typed statements over what the upstream reported and what requests generated. Callers own the transaction. */
export class ReportedStore {
  private readonly selectAll: Statement<[string], ReportedDbRow>;
  private readonly upsert: Statement<ReportedDbRow & { scope: string }>;
  private readonly addAdmittedStatement: Statement<{ scope: string; tokens: number; input: number; output: number; requests: number }>;
  private readonly correctAdmittedStatement: Statement<{ scope: string; tokens: number; input: number; output: number; requests: number }>;
  private readonly sumInFlight: Statement<
    [string, number, number, number],
    { input: number | null; output: number | null; requests: number }
  >;
  private readonly setModel: Statement<[string, number]>;
  private readonly selectModel: Statement<[number], { model: string | null }>;
  private readonly insertSample: Statement<[number, string, number]>;
  private readonly selectModels: Statement<[], { model: string }>;
  private readonly selectSamples: Statement<[string], { output_tokens: number }>;
  private readonly deleteOldSamples: Statement<[number]>;

  constructor(db: Database) {
    this.selectAll = db.prepare(
      'SELECT dimension, limit_value, remaining, reset_at, seen_at, admitted_since, rounding_slack, refill FROM reported_remaining WHERE scope = ?',
    );
    this.upsert = db.prepare(
      `INSERT INTO reported_remaining (scope, dimension, limit_value, remaining, reset_at, seen_at, admitted_since, rounding_slack, refill)
       VALUES (@scope, @dimension, @limit_value, @remaining, @reset_at, @seen_at, @admitted_since, @rounding_slack, @refill)
       ON CONFLICT (scope, dimension) DO UPDATE SET limit_value = excluded.limit_value, remaining = excluded.remaining, reset_at = excluded.reset_at,
         seen_at = excluded.seen_at, admitted_since = excluded.admitted_since, rounding_slack = excluded.rounding_slack, refill = excluded.refill`,
    );
    const perDimension = `admitted_since + CASE dimension WHEN 'tokens' THEN @tokens WHEN 'input-tokens' THEN @input WHEN 'output-tokens' THEN @output ELSE @requests END`;
    this.addAdmittedStatement = db.prepare(`UPDATE reported_remaining SET admitted_since = ${perDimension} WHERE scope = @scope`);
    // Below zero when a request the report already counted gives back more than was admitted since (a refund).
    this.correctAdmittedStatement = db.prepare(`UPDATE reported_remaining SET admitted_since = ${perDimension} WHERE scope = @scope`);
    this.sumInFlight = db.prepare(
      "SELECT SUM(est_input_tokens) AS input, SUM(COALESCE(charge_output_tokens, est_output_tokens)) AS output, COUNT(*) AS requests FROM requests WHERE outcome = 'in-flight' AND scope = ? AND admitted_at >= ? AND id <> ? AND (head_at IS NULL OR head_at > ?)",
    );
    this.setModel = db.prepare('UPDATE requests SET model = ? WHERE id = ?');
    this.selectModel = db.prepare('SELECT model FROM requests WHERE id = ?');
    this.insertSample = db.prepare('INSERT INTO output_samples (at, model, output_tokens) VALUES (?, ?, ?)');
    this.selectModels = db.prepare('SELECT DISTINCT model FROM output_samples');
    this.selectSamples = db.prepare(`SELECT output_tokens FROM output_samples WHERE model = ? ORDER BY id DESC LIMIT ${outputSampleLimit}`);
    this.deleteOldSamples = db.prepare('DELETE FROM output_samples WHERE id IN (SELECT id FROM output_samples WHERE at < ? LIMIT 5000)');
  }

  reports(scope: string): ReportedRemaining[] {
    return this.selectAll.all(scope).map(reportOf);
  }

  writeReport(scope: string, report: ReportedRemaining): void {
    if (!dimensions.includes(report.dimension)) throw new Error(`unknown limit dimension ${report.dimension}`);
    this.upsert.run({
      scope,
      dimension: report.dimension,
      limit_value: report.limit,
      remaining: report.remaining,
      reset_at: report.resetAt,
      seen_at: report.seenAt,
      admitted_since: report.admittedSince,
      rounding_slack: report.roundingSlack,
      refill: report.refill,
    });
  }

  /** A reservation made: it is not in any report yet. */
  addAdmitted(scope: string, inputTokens: number, outputTokens: number, requests: number): void {
    this.addAdmittedStatement.run({ scope, tokens: inputTokens + outputTokens, input: inputTokens, output: outputTokens, requests });
  }

  /** A settled request's real usage replaces its reservation in what was sent since each report. */
  correctAdmitted(scope: string, deltaInput: number, deltaOutput: number): void {
    this.correctAdmittedStatement.run({ scope, tokens: deltaInput + deltaOutput, input: deltaInput, output: deltaOutput, requests: 0 });
  }

  inFlightSince(scope: string, since: number, carrier: ReportCarrier = noCarrier): InFlightTotals {
    const row = this.sumInFlight.get(scope, since, carrier.id, carrier.admittedAt);
    return { inputTokens: row?.input ?? 0, outputTokens: row?.output ?? 0, requests: row?.requests ?? 0 };
  }

  setRequestModel(requestId: number, model: string): void {
    this.setModel.run(model, requestId);
  }

  requestModel(requestId: number): string | null {
    return this.selectModel.get(requestId)?.model ?? null;
  }

  recordOutputSample(at: number, model: string, outputTokens: number): void {
    this.insertSample.run(at, model, outputTokens);
  }

  /** The latest output samples of every model, newest first. */
  outputSamples(): Map<string, number[]> {
    const byModel = new Map<string, number[]>();
    for (const { model } of this.selectModels.all())
      byModel.set(
        model,
        this.selectSamples.all(model).map((row) => row.output_tokens),
      );
    return byModel;
  }

  pruneSamplesBefore(at: number): number {
    return this.deleteOldSamples.run(at).changes;
  }
}
