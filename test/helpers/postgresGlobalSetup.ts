import type { TestProject } from 'vitest/node';
import { startPostgresServer } from './postgresServer.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The test server's superuser URL; each test file makes its own database from it. */
    postgresUrl: string;
  }
}

/**
 * One PostgreSQL server per test run, for the `postgres` project (files named *.pg.test.ts).
 * A server that cannot start fails the run: these tests are never skipped.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startPostgresServer();
  // vitest runs the teardown even when tests fail; this covers a run that dies before it.
  const onExit = (): void => server.killNow();
  process.once('exit', onExit);
  project.provide('postgresUrl', server.url);
  return async () => {
    process.off('exit', onExit);
    await server.stop();
  };
}
