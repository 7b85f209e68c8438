/** A usage or configuration mistake: one line that names the problem and the fix; exit code 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
