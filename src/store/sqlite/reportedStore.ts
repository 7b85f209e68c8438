import type { Database, Statement } from 'better-sqlite3';
import { outputSampleLimit } from '../../core/outputEstimate.js';
import { dimensions, type ReportedRemaining } from '../../core/reported.js';
import { noCarrier, type InFlightTotals, type ReportCarrier } from '../port.js';
import { reportOf, type ReportedDbRow } from '../rows.js';

/** Typed statements over what the upstream reported and what requests generated. Callers own the transaction. */
export class ReportedStore {
  private readonly selectAll: Statement<[string], ReportedDbRow>;
  private readonly updateReport: Statement<[number | null, number, number, number, number, number, string, string, string]>;
  private readonly insertReport: Statement<[string, string, number | null, number, number, number, number, number, string]>;
  /** Moves what was sent since each report of a scope: tokens, input, output, requests, then the scope. */
  private readonly moveAdmitted: Statement<[number, number, number, number, string]>;
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
    // An UPDATE, then an INSERT only for a limit never reported: positional, and two to three
    // times cheaper than an upsert with named parameters (a head writes up to 8 of them).
    this.updateReport = db.prepare(
      `UPDATE reported_remaining SET limit_value = ?, remaining = ?, reset_at = ?, seen_at = ?, admitted_since = ?, rounding_slack = ?, refill = ?
       WHERE scope = ? AND dimension = ?`,
    );
    this.insertReport = db.prepare(
      `INSERT INTO reported_remaining (scope, dimension, limit_value, remaining, reset_at, seen_at, admitted_since, rounding_slack, refill)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.moveAdmitted = db.prepare(
      `UPDATE reported_remaining
       SET admitted_since = admitted_since + CASE dimension WHEN 'tokens' THEN ? WHEN 'input-tokens' THEN ? WHEN 'output-tokens' THEN ? ELSE ? END
       WHERE scope = ?`,
    );
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
    const { dimension, limit, remaining, resetAt, seenAt, admittedSince, roundingSlack, refill } = report;
    const updated = this.updateReport.run(limit, remaining, resetAt, seenAt, admittedSince, roundingSlack, refill, scope, dimension);
    if (updated.changes === 0)
      this.insertReport.run(scope, dimension, limit, remaining, resetAt, seenAt, admittedSince, roundingSlack, refill);
  }

  /** A reservation made: it is not in any report yet. */
  addAdmitted(scope: string, inputTokens: number, outputTokens: number, requests: number): void {
    this.moveAdmitted.run(inputTokens + outputTokens, inputTokens, outputTokens, requests, scope);
  }

  /** A settled request's real usage replaces its reservation in what was sent since each report. */
  correctAdmitted(scope: string, deltaInput: number, deltaOutput: number): void {
    this.moveAdmitted.run(deltaInput + deltaOutput, deltaInput, deltaOutput, 0, scope);
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
