import { fileURLToPath } from 'node:url';
import { socketFromSupervisorFlag } from '../kernel/workerProtocol.js';

/** A program and its arguments. */
export interface WorkerCommand {
  file: string;
  args: readonly string[];
}

// Both src/supervisor (tests) and dist/supervisor (the built CLI) sit two levels below the package root.
const binPath = fileURLToPath(new URL('../../bin/ratewarden', import.meta.url));

/** The worker is this same program in worker mode, with the user's own arguments to `run`. */
export function defaultWorkerCommand(userArgs: readonly string[]): WorkerCommand {
  return { file: process.execPath, args: [binPath, 'run', '--no-supervise', ...userArgs] };
}

/** The worker ratewarden's supervisor starts: it serves the supervisor's socket instead of binding --listen. */
export function supervisedWorkerCommand(userArgs: readonly string[]): WorkerCommand {
  return { file: process.execPath, args: [binPath, 'run', '--no-supervise', socketFromSupervisorFlag, ...userArgs] };
}
