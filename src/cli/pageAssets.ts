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

/**
 * The page's script, one job per file in `page/script/`, in the order they depend on each
 * other; served as one file in one function scope (plain concatenation: no tool, no build).
 */
const scriptParts = ['state.js', 'format.js', 'view.js', 'summary.js', 'groups.js', 'lists.js', 'processes.js', 'charts.js', 'loop.js'];

const scriptHead =
  "/*\n * ratewarden's live page. It polls the status view (the object `ratewarden status --json`\n" +
  ' * prints) once a second and draws it; it writes nothing and loads nothing but its own files.\n' +
  ' * Every piece of state is said in words and shapes; colour only repeats them.\n */\n';

function readScript(): Buffer {
  const parts = scriptParts.map((part) => readFileSync(join(pageFolder, 'script', part), 'utf8'));
  return Buffer.from(`${scriptHead}(function () {\n'use strict';\n${parts.join('\n')}})();\n`);
}

type Reader = () => Buffer;

const fileIn =
  (folder: () => string, file: string): Reader =>
  () =>
    readFileSync(join(folder(), file));

const files: readonly { name: string; read: Reader; contentType: string }[] = [
  { name: '', read: fileIn(() => pageFolder, 'index.html'), contentType: 'text/html; charset=utf-8' },
  { name: 'page.css', read: fileIn(() => pageFolder, 'page.css'), contentType: 'text/css; charset=utf-8' },
  { name: 'page.js', read: readScript, contentType: 'text/javascript; charset=utf-8' },
  { name: 'favicon.svg', read: fileIn(() => pageFolder, 'favicon.svg'), contentType: 'image/svg+xml' },
  { name: 'uplot.js', read: fileIn(uplotFolder, 'uPlot.iife.min.js'), contentType: 'text/javascript; charset=utf-8' },
  { name: 'uplot.css', read: fileIn(uplotFolder, 'uPlot.min.css'), contentType: 'text/css; charset=utf-8' },
];

/**
 * Reads every file of the page once, at start: a missing one is a broken installation, said at
 * once rather than at the first visit. Keyed by the name after `/_ratewarden/`.
 */
export function loadPageAssets(): ReadonlyMap<string, PageAsset> {
  const assets = new Map<string, PageAsset>();
  for (const { name, read, contentType } of files) {
    try {
      assets.set(name, { contentType, body: read() });
    } catch (error) {
      const where = (error as NodeJS.ErrnoException).path ?? (name === '' ? 'index.html' : name);
      throw new ConfigError(
        `the live page's file ${where} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); reinstall ratewarden, or run with --no-page`,
      );
    }
  }
  return assets;
}
