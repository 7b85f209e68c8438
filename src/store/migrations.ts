import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

// Both src/store (tests) and dist/store (the built CLI) sit two levels below the package root.
const migrationsDir = fileURLToPath(new URL('../../migrations/', import.meta.url));

export function loadMigrations(dir: string = migrationsDir): Migration[] {
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

/**
 * Applies every migration newer than the database, each in its own IMMEDIATE transaction that
 * also bumps user_version. The version is read again inside the lock, so two processes
 * starting together apply each migration once.
 */
export function applyMigrations(db: Database, migrations: readonly Migration[]): void {
  for (const migration of migrations) {
    db.transaction(() => {
      const current = db.pragma('user_version', { simple: true }) as number;
      if (current >= migration.version) return;
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
}
