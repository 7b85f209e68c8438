import { inject } from 'vitest';
import { createDatabaseOn, type TestDatabase } from './serverDatabase.js';

export type { TestDatabase } from './serverDatabase.js';

/** A fresh, empty database on the run's test server: call in beforeAll, drop in afterAll. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject('postgresUrl');
  if (!serverUrl) throw new Error('no test PostgreSQL server: run *.pg.test.ts files through the postgres vitest project');
  return createDatabaseOn(serverUrl, 'rw_test');
}
