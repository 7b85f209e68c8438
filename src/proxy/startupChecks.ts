import { ConfigError } from '../config/errors.js';
import { parseUpstreamList } from '../config/upstreamList.js';
import type { Settings } from '../config/schema.js';
import { checkListenAddress } from './listenAddress.js';

/**
 * The settings a worker cannot run without, checked the same way by the worker and, before its
 * first worker starts, by the supervisor: a mistake is exit 2 at once, never a crash loop.
 * Returns the first upstream's URL (the only one, unless one is named per provider).
 */
export function checkWorkerSettings(settings: Settings): URL {
  if (settings.upstream === null) {
    throw new ConfigError(
      'upstream: not set; pass --upstream https://api.anthropic.com (or set RATEWARDEN_UPSTREAM, or "upstream" in the config file)',
    );
  }
  checkListenAddress(settings.listen, settings.allowRemote);
  return new URL((parseUpstreamList(settings.upstream)[0] as { url: string }).url);
}
