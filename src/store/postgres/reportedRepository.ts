import { outputSampleLimit } from '../../core/outputEstimate.js';
import { dimensions, type ReportedRemaining } from '../../core/reported.js';
import { noCarrier, type InFlightTotals, type ReportCarrier, type ReportedRepository } from '../port.js';
import { write } from './batchedConnection.js';
import { bigintBound, firstRow, rowsOf, run, type Queryable } from './statements.js';
import { reportOf, type ReportedDbRow } from '../rows.js';

const perDimension = `admitted_since + CASE dimension WHEN 'tokens' THEN $2::bigint WHEN 'input-tokens' THEN $3::bigint
  WHEN 'output-tokens' THEN $4::bigint ELSE $5::bigint END`;

export const selectReports =
  'SELECT dimension, limit_value, remaining, reset_at, seen_at, admitted_since, rounding_slack, refill FROM reported_remaining WHERE scope = $1 ORDER BY dimension';

/** What the upstream reported per scope and dimension, and what requests generated per model. */
export class PostgresReportedRepository implements ReportedRepository {
  constructor(private readonly client: Queryable) {}

  async reports(scope: string): Promise<ReportedRemaining[]> {
    return (await rowsOf<ReportedDbRow>(this.client, selectReports, [scope])).map(reportOf);
  }

  async writeReport(scope: string, report: ReportedRemaining): Promise<void> {
    if (!dimensions.includes(report.dimension)) throw new Error(`unknown limit dimension ${report.dimension}`);
    await write(
      this.client,
      `INSERT INTO reported_remaining (scope, dimension, limit_value, remaining, reset_at, seen_at, admitted_since, rounding_slack, refill)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (scope, dimension) DO UPDATE SET limit_value = excluded.limit_value, remaining = excluded.remaining, reset_at = excluded.reset_at,
         seen_at = excluded.seen_at, admitted_since = excluded.admitted_since, rounding_slack = excluded.rounding_slack, refill = excluded.refill`,
      [
        scope,
        report.dimension,
        report.limit,
        report.remaining,
        report.resetAt,
        report.seenAt,
        report.admittedSince,
        report.roundingSlack,
        report.refill,
      ],
    );
  }

  /** A reservation made: it is not in any report yet. */
  async addAdmitted(scope: string, inputTokens: number, outputTokens: number, requests: number): Promise<void> {
    await write(this.client, `UPDATE reported_remaining SET admitted_since = ${perDimension} WHERE scope = $1`, [
      scope,
      inputTokens + outputTokens,
      inputTokens,
      outputTokens,
      requests,
    ]);
  }

  /** A settled request's real usage replaces its reservation in what was sent since each report. */
  async correctAdmitted(scope: string, deltaInput: number, deltaOutput: number): Promise<void> {
    // Below zero when a request the report already counted gives back more than was admitted since (a refund).
    await write(this.client, `UPDATE reported_remaining SET admitted_since = ${perDimension} WHERE scope = $1`, [
      scope,
      deltaInput + deltaOutput,
      deltaInput,
      deltaOutput,
      0,
    ]);
  }

  async inFlightSince(scope: string, since: number, carrier: ReportCarrier = noCarrier): Promise<InFlightTotals> {
    const row = await firstRow<{ input: number | null; output: number | null; requests: number }>(
      this.client,
      "SELECT SUM(est_input_tokens)::bigint AS input, SUM(COALESCE(charge_output_tokens, est_output_tokens))::bigint AS output, COUNT(*) AS requests FROM requests WHERE outcome = 'in-flight' AND scope = $1 AND admitted_at >= $2 AND id <> $3 AND (head_at IS NULL OR head_at > $4)",
      [scope, bigintBound(since), carrier.id, carrier.admittedAt],
    );
    return { inputTokens: row?.input ?? 0, outputTokens: row?.output ?? 0, requests: row?.requests ?? 0 };
  }

  async setRequestModel(requestId: number, model: string): Promise<void> {
    await write(this.client, 'UPDATE requests SET model = $1 WHERE id = $2', [model, requestId]);
  }

  async requestModel(requestId: number): Promise<string | null> {
    return (await firstRow<{ model: string | null }>(this.client, 'SELECT model FROM requests WHERE id = $1', [requestId]))?.model ?? null;
  }

  async recordOutputSample(at: number, model: string, outputTokens: number): Promise<void> {
    await write(this.client, 'INSERT INTO output_samples (at, model, output_tokens) VALUES ($1, $2, $3)', [at, model, outputTokens]);
  }

  /** The latest output samples of every model, newest first. */
  async outputSamples(): Promise<Map<string, number[]>> {
    const rows = await rowsOf<{ model: string; output_tokens: number }>(
      this.client,
      `SELECT m.model, s.output_tokens FROM (SELECT DISTINCT model FROM output_samples) m
       CROSS JOIN LATERAL (SELECT output_tokens, id FROM output_samples WHERE model = m.model ORDER BY id DESC LIMIT ${outputSampleLimit}) s
       ORDER BY m.model, s.id DESC`,
    );
    const byModel = new Map<string, number[]>();
    for (const row of rows) {
      const samples = byModel.get(row.model) ?? [];
      samples.push(row.output_tokens);
      byModel.set(row.model, samples);
    }
    return byModel;
  }

  async pruneSamplesBefore(at: number): Promise<number> {
    return (
      (await run(this.client, 'DELETE FROM output_samples WHERE id IN (SELECT id FROM output_samples WHERE at < $1 LIMIT 5000)', [at]))
        .rowCount ?? 0
    );
  }
}
