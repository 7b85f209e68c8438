/**
 * Fails (exit 1) when an import in src/ breaks one of DESIGN.md's dependency rules, printing one
 * line per violation. Usage: node --import tsx scripts/checkDependencies.ts [srcDir]
 * The rules themselves are in scripts/dependencyRules.ts; docs/checks.md explains them.
 */
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkDependencyRules, formatViolation } from './dependencyRules.js';
import { readTypeScriptTree } from './sourceFiles.js';

const root = resolve(process.argv[2] ?? fileURLToPath(new URL('../src', import.meta.url)));
const shownRoot = relative(process.cwd(), root).startsWith('..') ? root : relative(process.cwd(), root) || '.';
const report = checkDependencyRules(readTypeScriptTree(root));
for (const violation of report.violations) console.log(formatViolation(shownRoot, violation));
for (const exception of report.exceptionsUsed)
  console.log(`allowed for now: ${shownRoot}/${exception.file} imports '${exception.specifier}' (${exception.reason})`);
const summary = `dependency rules: ${report.files} files, ${report.imports} imports`;
if (report.violations.length > 0) {
  console.log(`${summary}, ${report.violations.length} violation(s)`);
  process.exitCode = 1;
} else {
  console.log(`${summary}, no violation`);
}
