import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Integration and e2e tests start real processes and servers; a 2-core machine needs room.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 2,
    // Files named *.pg.test.ts need a PostgreSQL server. They form their own project, so the
    // server (about two seconds to start) is started only by a run that includes one of them.
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/**/*.pg.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ['test/**/*.pg.test.ts'],
          globalSetup: ['test/helpers/postgresGlobalSetup.ts'],
        },
      },
    ],
  },
});
