import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerCalibrate } from './calibrate.js';
import { registerConfig } from './configCommand.js';
import { registerDemo } from './demo.js';
import { registerNewDb } from './newDb.js';
import { exitCodes } from '../kernel/exitCodes.js';
import { reportAndExit } from './failures.js';
import { passwordOnCommandLineWarning } from './passwordOnCommandLine.js';
import { addWrappedHelpText, configureHelpLayout } from './helpLayout.js';
import { registerResetCooldown } from './resetCooldown.js';
import { registerResetRestarts } from './resetRestarts.js';
import { registerRun } from './run.js';
import { registerStatus } from './status.js';
import { registerSystemdUnit } from './systemdUnit.js';

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The first steps, the client side included: what a newcomer types, in order. */
const startHere = `
Start here:
  $ ratewarden demo
      the incident ratewarden prevents, replayed on a simulated upstream
  $ ratewarden run --upstream https://api.anthropic.com
      the proxy on 127.0.0.1:8787; its database is made on the first start
  $ ratewarden run --upstream \\
      anthropic=https://api.anthropic.com,openai=https://api.openai.com
      one proxy for both providers: each request goes to its own

Then point the clients at it, in another shell:
  $ ANTHROPIC_BASE_URL=http://127.0.0.1:8787 claude
  $ OPENAI_BASE_URL=http://127.0.0.1:8787/v1 python my_agent.py
  $ ratewarden status --watch

"ratewarden COMMAND --help" shows each command's flags and examples.
Exit codes: 0 ok, 1 failure, 2 usage or configuration, 3 database.`;

function buildProgram(): Command {
  const program = new Command('ratewarden')
    .description("A local HTTP proxy that keeps API clients under an upstream's rate limits, and never forgets what it has spent.")
    .version(packageJson.version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (text, write) => write(text) })
    .exitOverride();
  configureHelpLayout(program);
  registerStatus(program);
  registerCalibrate(program);
  registerResetCooldown(program);
  registerConfig(program);
  registerRun(program);
  registerResetRestarts(program);
  registerSystemdUnit(program);
  registerDemo(program);
  registerNewDb(program);
  addWrappedHelpText(program, startHere);
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  const warning = passwordOnCommandLineWarning(process.argv.slice(2));
  if (warning !== null) process.stderr.write(warning);
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with code 0; anything else is a usage mistake.
      process.exit(error.exitCode === 0 ? exitCodes.ok : exitCodes.usage);
    }
    reportAndExit(error);
  }
}

await main();
