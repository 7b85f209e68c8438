import type { LiveView } from '../core/statusHistory.js';
import type { Store } from '../store/port.js';

/** One answer of the live page: a file of it, or its JSON view. */
export interface PageReply {
  status: number;
  contentType: string;
  body: string | Buffer;
  headers?: Readonly<Record<string, string>>;
}

/** Answers a GET of a path under `/_ratewarden/` that belongs to the live page; `null`: not one of its paths. */
export type PageAnswerer = (path: string) => Promise<PageReply | null>;

/** What the proxy hands the page's builder: its own store, and what only it knows (its queue). */
export interface PageSources {
  store: Store;
  live: () => LiveView;
}

/**
 * Builds the page's answerer. The page (its files, the status view) is made by the composition
 * root (cli/), which proxy/ may not import: the proxy only says where it is served.
 */
export type PageFactory = (sources: PageSources) => PageAnswerer;
