import type { KeyOrganization, OrganizationProvider } from '../../core/limitGroups.js';
import type { GroupRepository } from '../port.js';
import { firstRow, rowsOf, run, type Queryable } from './statements.js';

interface KeyOrganizationRow {
  fingerprint: string;
  provider: OrganizationProvider;
  organization: string;
  project: string | null;
  key_hint: string | null;
  learned_at: string | number;
}

const fromRow = (row: KeyOrganizationRow): KeyOrganization => ({
  fingerprint: row.fingerprint,
  provider: row.provider,
  organization: row.organization,
  project: row.project,
  learnedAt: Number(row.learned_at),
  keyHint: row.key_hint,
});

const columns = 'fingerprint, provider, organization, project, key_hint, learned_at';
const add =
  'input_tokens = t.input_tokens + excluded.input_tokens, output_tokens = t.output_tokens + excluded.output_tokens, requests = t.requests + excluded.requests';

/** key_organizations, and a key's scope joining its group. */
export class PostgresGroupRepository implements GroupRepository {
  constructor(private readonly client: Queryable) {}

  async organizations(): Promise<KeyOrganization[]> {
    return (await rowsOf<KeyOrganizationRow>(this.client, `SELECT ${columns} FROM key_organizations ORDER BY fingerprint`)).map(fromRow);
  }

  async organizationOf(fingerprint: string): Promise<KeyOrganization | null> {
    const row = await firstRow<KeyOrganizationRow>(this.client, `SELECT ${columns} FROM key_organizations WHERE fingerprint = $1`, [
      fingerprint,
    ]);
    return row === undefined ? null : fromRow(row);
  }

  async learn(entry: KeyOrganization): Promise<void> {
    await run(
      this.client,
      `INSERT INTO key_organizations (${columns}) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (fingerprint) DO UPDATE SET provider = excluded.provider, organization = excluded.organization, project = excluded.project,
         key_hint = COALESCE(excluded.key_hint, key_organizations.key_hint), learned_at = excluded.learned_at`,
      [entry.fingerprint, entry.provider, entry.organization, entry.project, entry.keyHint ?? null, entry.learnedAt],
    );
  }

  async moveUsage(from: string, to: string): Promise<void> {
    await run(
      this.client,
      `INSERT INTO usage_buckets AS t (scope, start, input_tokens, output_tokens, requests) SELECT $1, start, input_tokens, output_tokens, requests FROM usage_buckets WHERE scope = $2
       ON CONFLICT (scope, start) DO UPDATE SET ${add}`,
      [to, from],
    );
    await run(this.client, 'DELETE FROM usage_buckets WHERE scope = $1', [from]);
    await run(
      this.client,
      `INSERT INTO daily_usage AS t (scope, hour_start, input_tokens, output_tokens, requests) SELECT $1, hour_start, input_tokens, output_tokens, requests FROM daily_usage WHERE scope = $2
       ON CONFLICT (scope, hour_start) DO UPDATE SET ${add}`,
      [to, from],
    );
    await run(this.client, 'DELETE FROM daily_usage WHERE scope = $1', [from]);
    await run(this.client, "UPDATE requests SET scope = $1 WHERE scope = $2 AND outcome = 'in-flight'", [to, from]);
  }
}
