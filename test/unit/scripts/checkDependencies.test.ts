import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { checkDependencyRules, formatViolation, type Violation } from '../../../scripts/dependencyRules.js';
import { readTypeScriptTree } from '../../../scripts/sourceFiles.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';

const repository = fileURLToPath(new URL('../../../', import.meta.url));
const scratch = new ScratchDirs();
afterEach(() => scratch.removeAll());

/** A scratch src/ tree holding the given files. */
function tree(files: Record<string, string>): string {
  const root = scratch.make('ratewarden-deps-');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const check = (files: Record<string, string>): Violation[] => checkDependencyRules(readTypeScriptTree(tree(files)), []).violations;
const rulesOf = (violations: Violation[]): string[] => violations.map((violation) => `${violation.file}:${violation.rule}`);

describe('the dependency checker', () => {
  it('passes the real src/ tree', () => {
    const report = checkDependencyRules(readTypeScriptTree(join(repository, 'src')));
    expect(report.violations.map((violation) => formatViolation('src', violation))).toEqual([]);
    expect(report.files).toBeGreaterThan(200);
  });

  it('accepts imports that point down or stay on one level', () => {
    const violations = check({
      'core/window.ts': "import type { Clock } from '../kernel/clock.js';\nimport { a } from './other.js';\n",
      'warden/warden.ts': "import { b } from '../core/window.js';\nimport type { Port } from '../store/port.js';\n",
      'supervisor/supervise.ts': "import { c } from '../proxy/health.js';\nimport { execa } from 'execa';\n",
      'store/sqlite/open.ts': "import BetterSqlite3 from 'better-sqlite3';\nimport { d } from '../../core/types.js';\n",
      'cli/main.ts': "import { Command } from 'commander';\nimport kleur from 'kleur';\nimport { e } from '../store/sqlite/open.js';\n",
    });
    expect(violations).toEqual([]);
  });

  it('reports a room importing a room above it, with file, line, import and rule', () => {
    const violations = check({
      'store/port.ts': "export type A = 1;\nimport { settle } from '../warden/warden.js';\n",
      'warden/warden.ts': '',
    });
    expect(violations).toEqual([
      {
        file: 'store/port.ts',
        line: 2,
        specifier: '../warden/warden.js',
        rule: 'room-order',
        detail: 'store/ (level 2) imports warden/ (level 3), a room above it',
      },
    ]);
    expect(formatViolation('src', violations[0] as Violation)).toBe(
      "src/store/port.ts:2: import '../warden/warden.js' breaks room-order: store/ (level 2) imports warden/ (level 3), a room above it",
    );
  });

  it('reports each restricted package imported outside its room, type-only and dynamic imports included', () => {
    const violations = check({
      'warden/a.ts': "import type { Database } from 'better-sqlite3';\n",
      'proxy/b.ts': "const client = await import('pg');\n",
      'cli/c.ts': "export { execa } from 'execa';\n",
      'sim/d.ts': "import type { Command } from 'commander/sub';\nimport kleur from 'kleur';\n",
    });
    expect(rulesOf(violations)).toEqual([
      'cli/c.ts:package-room',
      'proxy/b.ts:package-room',
      'sim/d.ts:package-room',
      'sim/d.ts:package-room',
      'warden/a.ts:package-room',
    ]);
  });

  it('keeps core alone: no package, no Node built-in, no room but core and kernel types', () => {
    const violations = check({
      'core/a.ts':
        "import { readFileSync } from 'node:fs';\nimport { clock } from '../kernel/clock.js';\nimport type { Settings } from '../config/settings.js';\n",
    });
    expect(rulesOf(violations)).toEqual(['core/a.ts:core-alone', 'core/a.ts:core-alone', 'core/a.ts:core-alone', 'core/a.ts:room-order']);
  });

  it('keeps the storage backends behind the port for warden, proxy and supervisor', () => {
    const violations = check({
      'proxy/a.ts': "import { openDatabase } from '../store/sqlite/open.js';\nimport type { Port } from '../store/port.js';\n",
    });
    expect(rulesOf(violations)).toEqual(['proxy/a.ts:backend-internals']);
  });

  it('ignores import-like text in strings and comments, and reads an import spread over lines', () => {
    const violations = check({
      'kernel/a.ts':
        "// import x from '../cli/main.js';\nconst text = \"import pg from 'pg'\";\nimport {\n  run,\n} from '../cli/main.js';\n",
    });
    expect(violations.map((violation) => `${violation.line}:${violation.specifier}`)).toEqual(['5:../cli/main.js']);
  });

  it('reports a file outside the rooms, an import leaving src/, and an import() it cannot read', () => {
    const violations = check({
      'stray.ts': '',
      'newroom/a.ts': '',
      'proxy/a.ts': "import pkg from '../../package.json';\nconst m = await import(name);\n",
    });
    expect(rulesOf(violations)).toEqual([
      'newroom/a.ts:unknown-room',
      'proxy/a.ts:outside-src',
      'proxy/a.ts:computed-import',
      'stray.ts:unknown-room',
    ]);
  });

  it('allows a listed exception, and reports the exception once the import is gone', () => {
    const exception = { file: 'kernel/log.ts', specifier: '../config/durations.js', reason: 'for now' };
    const withImport = readTypeScriptTree(tree({ 'kernel/log.ts': "import { formatDuration } from '../config/durations.js';\n" }));
    expect(checkDependencyRules(withImport, [exception]).violations).toEqual([]);
    const withoutImport = readTypeScriptTree(tree({ 'kernel/log.ts': 'export {};\n' }));
    expect(rulesOf(checkDependencyRules(withoutImport, [exception]).violations)).toEqual(['kernel/log.ts:stale-exception']);
  });

  it('as a script, fails with one line per violation', async () => {
    const root = tree({ 'proxy/a.ts': "import { Command } from 'commander';\n" });
    const run = promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/checkDependencies.ts', root], { cwd: repository });
    const failure = await run.then(
      () => undefined,
      (error: unknown) => error as { code: number; stdout: string },
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stdout).toContain(
      `${join(root, 'proxy/a.ts')}:1: import 'commander' breaks package-room: only cli/ may import commander`,
    );
  });
});
