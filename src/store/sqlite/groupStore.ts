import type { Database, Statement } from 'better-sqlite3';
import type { KeyOrganization, OrganizationProvider } from '../../core/limitGroups.js';

interface KeyOrganizationRow {
  fingerprint: string;
  provider: OrganizationProvider;
  organization: string;
  project: string | null;
  key_hint: string | null;
  learned_at: number;
}

const fromRow = (row: KeyOrganizationRow): KeyOrganization => ({
  fingerprint: row.fingerprint,
  provider: row.provider,
  organization: row.organization,
  project: row.project,
  learnedAt: row.learned_at,
  keyHint: row.key_hint,
});

/** key_organizations, and a key's scope joining its group. Callers own the transaction; `moved` drops what the connection cached of the rows moved. */
export class GroupStore {
  private readonly selectAll: Statement<[], KeyOrganizationRow>;
  private readonly selectOne: Statement<[string], KeyOrganizationRow>;
  private readonly upsert: Statement<KeyOrganizationRow>;
  private readonly mergeBuckets: Statement<[string, string]>;
  private readonly dropBuckets: Statement<[string]>;
  private readonly mergeDaily: Statement<[string, string]>;
  private readonly dropDaily: Statement<[string]>;
  private readonly moveInFlight: Statement<[string, string]>;

  constructor(
    db: Database,
    private readonly moved: () => void,
  ) {
    const columns = 'fingerprint, provider, organization, project, key_hint, learned_at';
    this.selectAll = db.prepare(`SELECT ${columns} FROM key_organizations ORDER BY fingerprint`);
    this.selectOne = db.prepare(`SELECT ${columns} FROM key_organizations WHERE fingerprint = ?`);
    this.upsert = db.prepare(
      `INSERT INTO key_organizations (${columns}) VALUES (@fingerprint, @provider, @organization, @project, @key_hint, @learned_at)
       ON CONFLICT (fingerprint) DO UPDATE SET provider = excluded.provider, organization = excluded.organization, project = excluded.project,
         key_hint = COALESCE(excluded.key_hint, key_organizations.key_hint), learned_at = excluded.learned_at`,
    );
    const add =
      'input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens, requests = requests + excluded.requests';
    // `WHERE true`: SQLite's parser needs it between a SELECT and ON CONFLICT.
    this.mergeBuckets = db.prepare(
      `INSERT INTO usage_buckets (scope, start, input_tokens, output_tokens, requests) SELECT ?, start, input_tokens, output_tokens, requests FROM usage_buckets WHERE scope = ? AND true
       ON CONFLICT (scope, start) DO UPDATE SET ${add}`,
    );
    this.dropBuckets = db.prepare('DELETE FROM usage_buckets WHERE scope = ?');
    this.mergeDaily = db.prepare(
      `INSERT INTO daily_usage (scope, hour_start, input_tokens, output_tokens, requests) SELECT ?, hour_start, input_tokens, output_tokens, requests FROM daily_usage WHERE scope = ? AND true
       ON CONFLICT (scope, hour_start) DO UPDATE SET ${add}`,
    );
    this.dropDaily = db.prepare('DELETE FROM daily_usage WHERE scope = ?');
    this.moveInFlight = db.prepare("UPDATE requests SET scope = ? WHERE scope = ? AND outcome = 'in-flight'");
  }

  organizations(): KeyOrganization[] {
    return this.selectAll.all().map(fromRow);
  }

  organizationOf(fingerprint: string): KeyOrganization | null {
    const row = this.selectOne.get(fingerprint);
    return row === undefined ? null : fromRow(row);
  }

  learn(entry: KeyOrganization): void {
    this.upsert.run({
      fingerprint: entry.fingerprint,
      provider: entry.provider,
      organization: entry.organization,
      project: entry.project,
      key_hint: entry.keyHint ?? null,
      learned_at: entry.learnedAt,
    });
  }

  moveUsage(from: string, to: string): void {
    this.mergeBuckets.run(to, from);
    this.dropBuckets.run(from);
    this.mergeDaily.run(to, from);
    this.dropDaily.run(from);
    this.moveInFlight.run(to, from);
    this.moved();
  }
}
