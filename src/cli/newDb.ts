import type { Command } from 'commander';
import { settingNames } from '../config/schema.js';
import { ConfigError } from '../config/errors.js';
import { storeLocationOf } from '../store/openStore.js';
import { isPostgresUrl } from '../store/postgres/url.js';
import { markerPathFor } from '../store/sqlite/identity.js';
import { startNewDatabase, type NewDatabaseOutcome } from '../store/sqlite/newDatabase.js';
import { addExamples, addOperatorOptions } from './operatorOptions.js';
import { resolveSettings } from './settingsOptions.js';

export function registerNewDb(program: Command): void {
  const command = program
    .command('new-db')
    .description(
      'start anew on purpose where a database was deleted or replaced: create a new one (or adopt the file that is there) so that "ratewarden run" starts again',
    );
  addOperatorOptions(command, ['db']);
  addExamples(command, ['ratewarden new-db', 'ratewarden new-db --db /var/lib/ratewarden/ratewarden.db']);
  command.action((options: Record<string, unknown>) => {
    const { settings } = resolveSettings(options, settingNames);
    const path = settings.db as string;
    if (isPostgresUrl(path)) {
      throw new ConfigError(
        `--db ${storeLocationOf(path)}: new-db starts a new SQLite file; a PostgreSQL database is created and migrated by "ratewarden run"`,
      );
    }
    process.stdout.write(`${render(path, startNewDatabase(path))}\n`);
  });
}

function render(path: string, outcome: NewDatabaseOutcome): string {
  switch (outcome.kind) {
    case 'created': {
      const moved = outcome.movedAside.length > 0 ? `; moved the old database's leftovers aside: ${outcome.movedAside.join(', ')}` : '';
      return `created a new, empty database ${outcome.databaseId} at ${path} (recorded in ${markerPathFor(path)})${moved}; every rate-limit memory starts from nothing`;
    }
    case 'adopted':
      return `adopted the database ${outcome.databaseId} found at ${path}${outcome.previous === null ? '' : ` in place of ${outcome.previous}`} (recorded in ${markerPathFor(path)})`;
    case 'unchanged':
      return `${path} already holds the database ${outcome.databaseId} that lived there; nothing changed`;
  }
}
