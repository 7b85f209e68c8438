import { execFile } from 'node:child_process';
import type { Logger } from '../kernel/log.js';

/**
 * Tells systemd that the proxy accepts requests (`Type=notify`), when systemd asked for it by
 * setting NOTIFY_SOCKET. Node.js cannot write to a datagram Unix socket, so systemd's own
 * `systemd-notify --ready` speaks for it; the unit sets `NotifyAccess=all`, as the message comes
 * from that helper process (and, under ratewarden's supervisor, from its worker). Resolves once
 * the helper has ended; a failure is a warning, never a reason to stop serving.
 */
export function notifySystemdReady(url: string, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (env.NOTIFY_SOCKET === undefined || env.NOTIFY_SOCKET === '') return Promise.resolve();
  return new Promise((resolve) => {
    execFile('systemd-notify', ['--ready', `--status=ratewarden listening on ${url}`], { env, timeout: 5_000 }, (error) => {
      if (error !== null)
        log.warn(
          'systemd-notify-failed',
          `could not tell systemd the proxy is ready (systemd-notify: ${error.message.split('\n')[0] ?? ''}); a Type=notify unit will time out its start`,
        );
      resolve();
    });
  });
}
