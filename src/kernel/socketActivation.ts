/** The first file descriptor systemd passes (SD_LISTEN_FDS_START). */
const firstPassedFd = 3;

export type PassedSocket = { kind: 'none' } | { kind: 'fd'; fd: number } | { kind: 'invalid'; problem: string };

/**
 * systemd socket activation (sd_listen_fds(3)): a listening socket passed as fd 3 when
 * LISTEN_PID is this process and LISTEN_FDS is 1. The variables are removed once read, as
 * sd_listen_fds does, so that a child process does not take them for its own.
 */
export function takePassedSocket(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): PassedSocket {
  const fds = env.LISTEN_FDS;
  const forPid = env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  if (fds === undefined || forPid !== String(pid)) return { kind: 'none' };
  if (fds !== '1')
    return {
      kind: 'invalid',
      problem: `LISTEN_FDS=${fds}: ratewarden listens on exactly one socket; give its .socket unit one ListenStream=`,
    };
  return { kind: 'fd', fd: firstPassedFd };
}
