import { builtinModules } from 'node:module';
import { posix } from 'node:path';
import { scanImports, type ImportSite } from './importScan.js';
import type { SourceFile } from './sourceFiles.js';

/**
 * DESIGN.md's dependency rules, checked on the import graph of src/ (see docs/checks.md).
 *
 * Rooms and their levels: arrows point down, so a room may import its own level and below,
 * never above. DESIGN names kernel and core the bottom, then store, warden, proxy/supervisor,
 * cli/sim; config (defaults, files, env, flags) reads core's types and is read by every room
 * above it, so it sits between the bottom and store.
 */
export const roomLevels: Readonly<Record<string, number>> = {
  kernel: 0,
  core: 0,
  config: 1,
  store: 2,
  warden: 3,
  proxy: 4,
  supervisor: 4,
  cli: 5,
  sim: 5,
};

/** Packages that only one room may import (DESIGN: "only store/sqlite/ imports better-sqlite3, …"). */
export const packageRooms: Readonly<Record<string, string>> = {
  'better-sqlite3': 'store/sqlite',
  pg: 'store/postgres',
  execa: 'supervisor',
  commander: 'cli',
  kleur: 'cli',
};

/**
 * The storage backends' own modules (database handles, SQL). DESIGN: proxy, supervisor and cli
 * call warden or the port, none sees a database handle; cli is the composition root that opens
 * the store, and sim replays incidents on a SQLite file, so those two may reach a backend.
 */
const backendFolders = ['store/sqlite', 'store/postgres'];
const backendImporters = ['store', 'cli', 'sim'];

/** An import the rules forbid but the lead has accepted for now; each names why. */
export interface Exception {
  file: string;
  specifier: string;
  reason: string;
}

export const knownExceptions: readonly Exception[] = [];

export interface Violation {
  file: string;
  line: number;
  specifier: string;
  rule: string;
  detail: string;
}

export interface DependencyReport {
  files: number;
  imports: number;
  violations: Violation[];
  exceptionsUsed: Exception[];
}

/** Checks every file of a tree rooted at src/ (paths relative to src/). */
export function checkDependencyRules(files: readonly SourceFile[], exceptions: readonly Exception[] = knownExceptions): DependencyReport {
  const violations: Violation[] = [];
  const used = new Set<Exception>();
  let imports = 0;
  for (const file of files) {
    if (roomOf(file.path) === undefined) {
      violations.push({
        file: file.path,
        line: 0,
        specifier: '',
        rule: 'unknown-room',
        detail: "this file is in no room of DESIGN.md's house: add its room to roomLevels",
      });
      continue;
    }
    for (const site of scanImports(file.path, file.text)) {
      imports += 1;
      for (const found of ruleBreaches(file.path, site)) {
        const exception = exceptions.find((entry) => entry.file === file.path && entry.specifier === site.specifier);
        if (exception === undefined) violations.push({ file: file.path, line: site.line, specifier: site.specifier, ...found });
        else used.add(exception);
      }
    }
  }
  // An exception that no longer matches anything would silently allow the import back later.
  for (const exception of exceptions.filter((entry) => !used.has(entry))) {
    violations.push({
      file: exception.file,
      line: 0,
      specifier: exception.specifier,
      rule: 'stale-exception',
      detail: 'this import is gone or allowed now: delete its entry in scripts/dependencyRules.ts',
    });
  }
  return { files: files.length, imports, violations, exceptionsUsed: exceptions.filter((entry) => used.has(entry)) };
}

type Breach = Pick<Violation, 'rule' | 'detail'>;

function ruleBreaches(file: string, site: ImportSite): Breach[] {
  const room = roomOf(file) as string;
  if (site.specifier === '<computed>') return [{ rule: 'computed-import', detail: 'an import() of a computed name cannot be checked' }];
  if (site.specifier.startsWith('.') || site.specifier.startsWith('/')) return projectBreaches(file, room, site);
  return packageBreaches(file, room, site.specifier);
}

function projectBreaches(file: string, room: string, site: ImportSite): Breach[] {
  const target = posix.normalize(posix.join(posix.dirname(file), site.specifier));
  if (target.startsWith('../') || site.specifier.startsWith('/'))
    return [{ rule: 'outside-src', detail: 'src/ imports nothing outside src/ (it is compiled on its own into dist/)' }];
  const targetRoom = roomOf(target);
  if (targetRoom === undefined) return [{ rule: 'unknown-room', detail: `${target} is in no room of DESIGN.md's house` }];
  const breaches: Breach[] = [];
  if (room === 'core' && targetRoom !== 'core' && !(targetRoom === 'kernel' && site.typeOnly)) {
    breaches.push({
      rule: 'core-alone',
      detail: `core imports only core and kernel's types, not ${site.typeOnly ? 'types of ' : ''}${targetRoom}/`,
    });
  }
  const level = roomLevels[room] as number;
  const targetLevel = roomLevels[targetRoom] as number;
  if (targetLevel > level)
    breaches.push({
      rule: 'room-order',
      detail: `${room}/ (level ${level}) imports ${targetRoom}/ (level ${targetLevel}), a room above it`,
    });
  const backend = backendFolders.find((folder) => target.startsWith(`${folder}/`));
  if (backend !== undefined && !backendImporters.includes(room)) {
    breaches.push({
      rule: 'backend-internals',
      detail: `${room}/ reaches into ${backend}/: only ${backendImporters.join(', ')} may (others go through the port or warden)`,
    });
  }
  return breaches;
}

function packageBreaches(file: string, room: string, specifier: string): Breach[] {
  const name = packageName(specifier);
  const breaches: Breach[] = [];
  if (room === 'core')
    breaches.push({ rule: 'core-alone', detail: `core imports no package${isBuiltin(name) ? ' and no Node built-in (no I/O)' : ''}` });
  const owner = packageRooms[name];
  if (owner !== undefined && !file.startsWith(`${owner}/`))
    breaches.push({ rule: 'package-room', detail: `only ${owner}/ may import ${name}` });
  return breaches;
}

/** `kernel/log.ts` → kernel; `store/sqlite/open.ts` → store (levels are per room; store's folders are one room). */
function roomOf(path: string): string | undefined {
  const first = path.split('/')[0] ?? '';
  return path.includes('/') && first in roomLevels ? first : undefined;
}

/** `@scope/name/sub` → `@scope/name`; `pg/lib/x` → `pg`; `node:fs` → `node:fs`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

function isBuiltin(name: string): boolean {
  return name.startsWith('node:') || builtinModules.includes(name);
}

/** One line per violation: where, which import, which rule, why. */
export function formatViolation(root: string, violation: Violation): string {
  const where = violation.line > 0 ? `${root}/${violation.file}:${violation.line}` : `${root}/${violation.file}`;
  const what = violation.specifier === '' ? '' : ` import '${violation.specifier}'`;
  return `${where}:${what} breaks ${violation.rule}: ${violation.detail}`;
}
