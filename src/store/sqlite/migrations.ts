import { fileURLToPath } from 'node:url';
import type { Database } from 'better-sqlite3';
import { loadMigrations, type Migration } from '../migrations.js';

// Both src/store/sqlite (tests) and dist/store/sqlite (the built CLI) sit three levels below the package root.
const migrationsDir = fileURLToPath(new URL('../../../migrations/sqlite/', import.meta.url));

export const loadSqliteMigrations = (dir: string = migrationsDir): Migration[] => loadMigrations(dir);

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
