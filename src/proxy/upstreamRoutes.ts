import { parseUpstreamList, type UpstreamEntry } from '../config/upstreamList.js';
import type { ForwardSetup } from './forward.js';
import type { ProviderName } from './providers/types.js';
import { upstreamTransport } from './upstreamAgent.js';

/** Where a request goes: its upstream and how to reach it. */
export interface UpstreamRoute {
  url: URL;
  forwardSetup: ForwardSetup;
}

/**
 * The upstreams of one proxy, one per provider (or one for everything): each request goes to its
 * provider's, as chosen from its path and headers. A request of a provider none is configured
 * for is answered locally; one whose provider cannot be told (`generic`) goes to a `generic=`
 * upstream if there is one, else to the first configured.
 */
export class UpstreamRoutes {
  private readonly routes: { provider: ProviderName | null; route: UpstreamRoute }[];

  constructor(entries: readonly UpstreamEntry[], upstreamTimeoutMs: number) {
    this.routes = entries.map((entry) => {
      const url = new URL(entry.url);
      return {
        provider: entry.provider,
        route: { url, forwardSetup: { upstream: url, transport: upstreamTransport(url), upstreamTimeoutMs } },
      };
    });
  }

  static fromSetting(text: string, upstreamTimeoutMs: number): UpstreamRoutes {
    return new UpstreamRoutes(parseUpstreamList(text), upstreamTimeoutMs);
  }

  /** The first configured: the host whose name tells the provider of a request that tells none itself. */
  get first(): URL {
    return (this.routes[0] as { route: UpstreamRoute }).route.url;
  }

  /** Whether one URL serves every request (a single `--upstream URL`). */
  get single(): boolean {
    return this.routes.length === 1 && this.routes[0]?.provider === null;
  }

  /** The route for a request of `provider`, or null when no configured upstream serves it. */
  route(provider: ProviderName): UpstreamRoute | null {
    if (this.single) return (this.routes[0] as { route: UpstreamRoute }).route;
    const own = this.routes.find((entry) => entry.provider === provider);
    if (own !== undefined) return own.route;
    return provider === 'generic' ? (this.routes[0] as { route: UpstreamRoute }).route : null;
  }

  /** The providers configured, as status and the logs name them: `anthropic=https://…, openai=https://…`. */
  describe(): string {
    return this.routes
      .map(({ provider, route }) =>
        provider === null ? route.url.origin : `${provider}=${route.url.origin}${route.url.pathname.replace(/\/$/, '')}`,
      )
      .join(', ');
  }

  /** Each configured provider's name, for the local error that names them. */
  providers(): string[] {
    return this.routes.map(({ provider }) => provider ?? 'any');
  }

  close(): void {
    for (const { route } of this.routes) route.forwardSetup.transport.agent.destroy();
  }
}
