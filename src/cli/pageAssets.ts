import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../config/errors.js';

/** One file of the live page, as it is served. */
export interface PageAsset {
  contentType: string;
  body: Buffer;
}

/** The page's own files: `page/` at the package's root (shipped by package.json `files`), from src/cli and dist/cli alike. */
const pageFolder = fileURLToPath(new URL('../../page/', import.meta.url));

/** uPlot's browser build, from the installed package: no CDN, no build step, works offline. */
function uplotFolder(): string {
  return join(dirname(createRequire(import.meta.url).resolve('uplot')));
}

const files: readonly { name: string; folder: () => string; file: string; contentType: string }[] = [
  { name: '', folder: () => pageFolder, file: 'index.html', contentType: 'text/html; charset=utf-8' },
  { name: 'page.css', folder: () => pageFolder, file: 'page.css', contentType: 'text/css; charset=utf-8' },
  { name: 'page.js', folder: () => pageFolder, file: 'page.js', contentType: 'text/javascript; charset=utf-8' },
  { name: 'favicon.svg', folder: () => pageFolder, file: 'favicon.svg', contentType: 'image/svg+xml' },
  { name: 'uplot.js', folder: uplotFolder, file: 'uPlot.iife.min.js', contentType: 'text/javascript; charset=utf-8' },
  { name: 'uplot.css', folder: uplotFolder, file: 'uPlot.min.css', contentType: 'text/css; charset=utf-8' },
];

/**
 * Reads every file of the page once, at start: a missing one is a broken installation, said at
 * once rather than at the first visit. Keyed by the name after `/_ratewarden/`.
 */
export function loadPageAssets(): ReadonlyMap<string, PageAsset> {
  const assets = new Map<string, PageAsset>();
  for (const { name, folder, file, contentType } of files) {
    let path = file;
    try {
      path = join(folder(), file);
      assets.set(name, { contentType, body: readFileSync(path) });
    } catch (error) {
      throw new ConfigError(
        `the live page's file ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); reinstall ratewarden, or run with --no-page`,
      );
    }
  }
  return assets;
}
