import { readdirSync, readFileSync } from 'node:fs';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migrations of one dialect's folder (migrations/sqlite, migrations/postgres), in version order. */
export function loadMigrations(dir: string): Migration[] {
  return readdirSync(dir)
    .map((file) => /^(\d{3})_([\w-]+)\.sql$/.exec(file))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({
      version: Number(match[1]),
      name: match[2] as string,
      sql: readFileSync(`${dir}/${match[0]}`, 'utf8'),
    }))
    .sort((a, b) => a.version - b.version);
}

export const latestSchemaVersion = (migrations: readonly Migration[]): number =>
  migrations.reduce((latest, migration) => Math.max(latest, migration.version), 0);
