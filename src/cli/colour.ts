import kleur from 'kleur';

type Env = Readonly<Record<string, string | undefined>>;

/** NO_COLOR (any non-empty value) turns colours off; FORCE_COLOR turns them on; else only on a terminal. */
export function colourWanted(env: Env, isTerminal: boolean): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return isTerminal && env.TERM !== 'dumb';
}

export function chooseColour(stream: NodeJS.WriteStream = process.stdout, env: Env = process.env): void {
  kleur.enabled = colourWanted(env, stream.isTTY === true);
}
