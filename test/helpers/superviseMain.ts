// Runs the real supervisor with a stand-in worker, as `ratewarden run` would with the real one:
//   node --import tsx superviseMain.ts SETTINGS_JSON WORKER_SCRIPT [WORKER_ARGS ...]
// SETTINGS_JSON holds setting values as a user gives them as flags, e.g. {"restartSec": "50ms"}.
import { loadConfig } from '../../src/config/load.js';
import type { SettingName } from '../../src/config/schema.js';
import { superviseWorker } from '../../src/supervisor/supervise.js';

const [settingsJson, workerScript, ...workerArgs] = process.argv.slice(2);
if (settingsJson === undefined || workerScript === undefined)
  throw new Error('usage: superviseMain.ts SETTINGS_JSON WORKER_SCRIPT [ARGS ...]');
const flags = JSON.parse(settingsJson) as Partial<Record<SettingName, unknown>>;
// No RATEWARDEN_* variables and no config file of the machine's user: only what the test says.
const { settings } = loadConfig({ flags, env: { XDG_CONFIG_HOME: '/nonexistent' } });
process.exitCode = await superviseWorker({
  settings,
  userArgs: [],
  workerCommand: { file: process.execPath, args: [workerScript, ...workerArgs] },
});
