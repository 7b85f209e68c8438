import { ConfigError } from '../config/errors.js';
import { StoreError } from '../store/errors.js';
import { exitCodes } from '../kernel/exitCodes.js';

/** Turns an error into one line on stderr and the documented exit code. */
export function exitCodeFor(error: unknown): { code: number; line: string } {
  if (error instanceof ConfigError) return { code: exitCodes.usage, line: error.message };
  if (error instanceof StoreError) return { code: exitCodes.database, line: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return { code: exitCodes.failure, line: message };
}

export function reportAndExit(error: unknown): never {
  const { code, line } = exitCodeFor(error);
  process.stderr.write(`ratewarden: ${line}\n`);
  process.exit(code);
}
