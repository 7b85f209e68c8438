import { defaultConfigPath, defaultDatabasePath } from './paths.js';
import { ConfigError } from './errors.js';
import { NotARegularFile, readRegularFile } from './regularFile.js';
import { envName, kebabName, settingNames, settingsSchema, type SettingName, type Settings } from './schema.js';
import type { Field } from './fields.js';

export type Source = 'default' | 'file' | 'env' | 'flag';

export interface ResolvedConfig {
  settings: Settings;
  sources: Record<SettingName, Source>;
  /** The config file that was read, or null when there was none. */
  configFile: string | null;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Variables that are not settings but are ours all the same. */
const otherEnvNames = new Set(['RATEWARDEN_CONFIG']);

export interface LoadInput {
  /** Flag values by setting name, as commander gave them; undefined = not given. */
  flags: Partial<Record<SettingName, unknown>>;
  env: Env;
  /** `--config PATH`; when absent, RATEWARDEN_CONFIG, then the default path if it exists. */
  configPath?: string | undefined;
}

/** defaults ← config file ← RATEWARDEN_* env ← flags, each value validated. */
export function loadConfig({ flags, env, configPath }: LoadInput): ResolvedConfig {
  const explicitPath = configPath ?? env.RATEWARDEN_CONFIG;
  const file = readConfigFile(explicitPath ?? defaultConfigPath(env), explicitPath !== undefined);
  checkEnvNames(env);

  const values: Partial<Record<SettingName, unknown>> = {};
  const sources = {} as Record<SettingName, Source>;
  for (const name of settingNames) {
    const field: Field<unknown> = settingsSchema[name];
    const fromFlag = flags[name];
    const fromEnv = env[envName(name)];
    const fromFile = file?.values[kebabName(name)];
    if (field.unsafe === true && (fromEnv !== undefined || fromFile !== undefined)) {
      const where = fromEnv !== undefined ? envName(name) : (file?.path ?? 'the config file');
      throw new ConfigError(
        `${kebabName(name)}: switches a protection off, so it is accepted only as the flag --${kebabName(name)} for one run, not from ${where}; remove it there`,
      );
    }
    if (fromFlag !== undefined) {
      values[name] = parseOrThrow(name, field, fromFlag, `--${kebabName(name)}`);
      sources[name] = 'flag';
    } else if (fromEnv !== undefined) {
      values[name] = parseOrThrow(name, field, fromEnv, envName(name));
      sources[name] = 'env';
    } else if (fromFile !== undefined) {
      values[name] = parseOrThrow(name, field, fromFile, file?.path ?? 'config file');
      sources[name] = 'file';
    } else {
      values[name] = field.default;
      sources[name] = 'default';
    }
  }
  const settings = values as Settings;
  if (settings.db === null) settings.db = defaultDatabasePath(env);
  checkCombinations(settings);
  return { settings, sources, configFile: file?.path ?? null };
}

function parseOrThrow(name: SettingName, field: Field<unknown>, raw: unknown, where: string): unknown {
  const parsed = field.parse(raw);
  if (parsed.ok) return parsed.value;
  if (parsed.problem !== undefined) throw new ConfigError(`${kebabName(name)}: ${parsed.problem} (from ${where})`);
  throw new ConfigError(`${kebabName(name)}: ${JSON.stringify(raw)} is not ${field.expected}; ${field.example} (from ${where})`);
}

function readConfigFile(path: string, mustExist: boolean): { path: string; values: Record<string, unknown> } | null {
  let text: string;
  try {
    text = readRegularFile(path);
  } catch (error) {
    if (error instanceof NotARegularFile)
      throw new ConfigError(`config file ${path}: ${error.message}; give --config or RATEWARDEN_CONFIG the path of a JSON file`);
    if (!mustExist && (error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ConfigError(
      `config file ${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}); check the path given to --config or RATEWARDEN_CONFIG`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `config file ${path}: not valid JSON (${(error as Error).message}); it must be one JSON object such as {"window": "60s"}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path}: must be one JSON object such as {"window": "60s"}`);
  }
  const known = new Set(settingNames.map(kebabName));
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) {
      throw new ConfigError(
        `config file ${path}: unknown key "${key}"${suggestion(key, [...known])}; "ratewarden config --help" lists the keys`,
      );
    }
  }
  return { path, values: parsed as Record<string, unknown> };
}

function checkEnvNames(env: Env): void {
  const known = new Set([...settingNames.map(envName), ...otherEnvNames]);
  for (const key of Object.keys(env)) {
    if (key.startsWith('RATEWARDEN_') && !known.has(key)) {
      throw new ConfigError(
        `environment: unknown variable ${key}${suggestion(key, [...known])}; unset it or use a known RATEWARDEN_* name`,
      );
    }
  }
}

function checkCombinations(settings: Settings): void {
  if (settings.backoffMax < settings.backoffBase) {
    throw new ConfigError(
      `backoff-max: ${settings.backoffMax}ms is shorter than backoff-base ${settings.backoffBase}ms; make backoff-max at least backoff-base`,
    );
  }
  if (settings.restartMaxDelay < settings.restartSec) {
    throw new ConfigError(
      `restart-max-delay: ${settings.restartMaxDelay}ms is shorter than restart-sec ${settings.restartSec}ms; make it at least restart-sec`,
    );
  }
}

function suggestion(key: string, known: readonly string[]): string {
  const close = known.find((candidate) => editDistance(candidate.toLowerCase(), key.toLowerCase()) <= 2);
  return close === undefined ? '' : ` (did you mean "${close}"?)`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}
