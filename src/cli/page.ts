import type { Settings } from '../config/schema.js';
import type { StatusReport } from '../core/statusReport.js';
import { reservedPrefix } from '../proxy/target.js';
import type { PageAnswerer, PageFactory, PageReply } from '../proxy/pageEndpoint.js';
import { StoreUnavailableError } from '../store/unavailable.js';
import { loadPageAssets, type PageAsset } from './pageAssets.js';
import { readStatus } from './status.js';

/** The page's JSON view: the object `ratewarden status --json` prints, read again at each poll. */
export const pageViewName = 'status.json';

/**
 * The page loads nothing but its own files and its JSON: no inline script, no other origin, so a
 * page opened on a machine without network works and an injected string could not run.
 */
const pageHeaders: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

function reply(status: number, contentType: string, body: string | Buffer): PageReply {
  return { status, contentType, body, headers: pageHeaders };
}

/** Answers the page's paths (`/_ratewarden/`, its files, its JSON view) from `read`. */
export function pageAnswerer(assets: ReadonlyMap<string, PageAsset>, read: () => Promise<StatusReport>): PageAnswerer {
  return async (path) => {
    const name = path === '/_ratewarden' ? '' : path.startsWith(reservedPrefix) ? path.slice(reservedPrefix.length) : null;
    if (name === null) return null;
    if (name === pageViewName) {
      try {
        return reply(200, 'application/json', JSON.stringify(await read()));
      } catch (error) {
        // The page says the store cannot be read, as status would, and keeps polling.
        if (!(error instanceof StoreUnavailableError)) throw error;
        return reply(503, 'application/json', JSON.stringify({ error: `the database cannot be read: ${error.message}` }));
      }
    }
    const asset = assets.get(name);
    return asset === undefined ? null : reply(200, asset.contentType, asset.body);
  };
}

/** The live page a proxy serves on its own address, read from its own store, with its queue. */
export function proxyPage(settings: Settings): PageFactory {
  const assets = loadPageAssets();
  return ({ store, live }) => pageAnswerer(assets, () => readStatus(store, settings, null, live()));
}
