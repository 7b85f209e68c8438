import { homedir } from 'node:os';
import { join } from 'node:path';

type Env = Readonly<Record<string, string | undefined>>;

/** `$XDG_STATE_HOME/ratewarden/ratewarden.db`, else `~/.local/state/ratewarden/ratewarden.db`. */
export function defaultDatabasePath(env: Env): string {
  const stateHome = env.XDG_STATE_HOME && env.XDG_STATE_HOME.trim() !== '' ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(stateHome, 'ratewarden', 'ratewarden.db');
}

/** `$XDG_CONFIG_HOME/ratewarden/config.json`, else `~/.config/ratewarden/config.json`. */
export function defaultConfigPath(env: Env): string {
  const configHome = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.trim() !== '' ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(configHome, 'ratewarden', 'config.json');
}
