import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SourceFile {
  /** The path below the tree's root, with `/` separators, e.g. `store/sqlite/open.ts`. */
  path: string;
  text: string;
}

/** Every TypeScript file under `root`, recursively, in a stable order (so reports diff cleanly). */
export function readTypeScriptTree(root: string): SourceFile[] {
  const paths = readdirSync(root, { recursive: true, encoding: 'utf8' })
    .map((entry) => entry.split('\\').join('/'))
    .filter((entry) => entry.endsWith('.ts'))
    .sort();
  return paths.map((path) => ({ path, text: readFileSync(join(root, path), 'utf8') }));
}
