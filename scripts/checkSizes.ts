/**
 * The house rules' sizes: no file in src/ over 350 lines, no function over 60 lines; how both are
 * measured (and that a function's lines include its nested functions) is in scripts/sizeRules.ts.
 * Usage: node --import tsx scripts/checkSizes.ts [--report] [srcDir]
 * Fails (exit 1) when something is over; with --report it only lists and exits 0.
 */
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkSizes, fileLineLimit, formatSizeViolation, functionLineLimit } from './sizeRules.js';
import { readTypeScriptTree } from './sourceFiles.js';

const reportOnly = process.argv.includes('--report');
const directory = process.argv.slice(2).find((argument) => !argument.startsWith('--'));
const root = resolve(directory ?? fileURLToPath(new URL('../src', import.meta.url)));
const shownRoot = relative(process.cwd(), root).startsWith('..') ? root : relative(process.cwd(), root) || '.';
const files = readTypeScriptTree(root);
const violations = checkSizes(files);
for (const violation of violations) console.log(formatSizeViolation(shownRoot, violation));
const summary = `sizes: ${files.length} files (limit ${fileLineLimit} lines), functions limit ${functionLineLimit} lines`;
console.log(`${summary}, ${violations.length === 0 ? 'nothing over' : `${violations.length} over`}${reportOnly ? ' (report only)' : ''}`);
if (violations.length > 0 && !reportOnly) process.exitCode = 1;
