import { isPostgresUrl } from '../store/postgres/url.js';
import { socketFromSupervisorFlag } from '../kernel/workerProtocol.js';

/** Whether a PostgreSQL URL carries a password, in its user info or as a `password=` / `sslpassword=` parameter. */
function carriesPassword(value: string): boolean {
  if (!isPostgresUrl(value)) return false;
  try {
    const url = new URL(value);
    return url.password !== '' || url.searchParams.has('password') || url.searchParams.has('sslpassword');
  } catch {
    // Not a URL that parses: judged by its shape, as redactPostgresUrl masks it.
    return /^[a-z]+:\/\/[^/?#@]*:[^@]*@/i.test(value) || /(?:ssl)?password=/i.test(value);
  }
}

/**
 * The command line of every process can be read by every user of the host (`ps`,
 * /proc/PID/cmdline): a password in `--db postgres://user:pw@…` is shown to all of them. One
 * line on stderr says so and names the ways that keep it private. The supervisor's worker, which
 * is handed the same arguments, does not say it again.
 */
export function passwordOnCommandLineWarning(args: readonly string[]): string | null {
  if (args.includes(socketFromSupervisorFlag)) return null;
  const exposed = args.some((arg) => carriesPassword(arg.startsWith('--db=') ? arg.slice('--db='.length) : arg));
  if (!exposed) return null;
  return 'ratewarden: warning: the PostgreSQL URL on the command line carries a password, which every user of this host can read in the process list (ps); leave it out of the URL and set PGPASSWORD or ~/.pgpass, or give the whole URL in RATEWARDEN_DB (docs/fleet.md)\n';
}
