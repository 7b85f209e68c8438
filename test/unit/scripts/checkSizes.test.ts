import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { checkSizes, formatSizeViolation, measureFunctions, physicalLines } from '../../../scripts/sizeRules.js';
import { ScratchDirs } from '../../helpers/scratchDir.js';

const repository = fileURLToPath(new URL('../../../', import.meta.url));
const scratch = new ScratchDirs();
afterEach(() => scratch.removeAll());

/** `count` statement lines, for a body of a known length. */
const statements = (count: number): string => Array.from({ length: count }, (_, index) => `  work(${index});\n`).join('');

describe('the size checker', () => {
  it('counts physical lines as wc -l does', () => {
    expect(physicalLines('')).toBe(0);
    expect(physicalLines('a\nb\n')).toBe(2);
    expect(physicalLines('a\nb')).toBe(2);
    expect(physicalLines('\n\n\n')).toBe(3);
  });

  it('measures every kind of function from its first to its last line, the doc comment excluded', () => {
    const text = [
      '/** Doc. */',
      'export async function declared() {',
      '  return 1;',
      '}',
      'const arrow = () =>',
      '  2;',
      'const expression = function () {};',
      'class Box {',
      '  constructor() {}',
      '  private method(): void {',
      '  }',
      '  get size() { return 0; }',
      '}',
      'const object = { shorthand() {}, property: () => {} };',
      'declare function overloadOnly(): void;',
      '',
    ].join('\n');
    expect(measureFunctions('a.ts', text)).toEqual([
      { line: 2, name: 'declared', lines: 3 },
      { line: 5, name: 'arrow', lines: 2 },
      { line: 7, name: 'expression', lines: 1 },
      { line: 9, name: 'Box.constructor', lines: 1 },
      { line: 10, name: 'Box.method', lines: 2 },
      { line: 12, name: 'Box.size', lines: 1 },
      { line: 14, name: 'shorthand', lines: 1 },
      { line: 14, name: 'property', lines: 1 },
    ]);
  });

  it("counts a nested function in its outer function's lines and also on its own", () => {
    const text = `export function outer() {\n  return new Promise((resolve) => {\n${statements(3)}  });\n}\n`;
    expect(measureFunctions('a.ts', text)).toEqual([
      { line: 1, name: 'outer', lines: 7 },
      { line: 2, name: 'outer › arrow passed to new Promise', lines: 5 },
    ]);
  });

  it('reports a file over 350 lines and a function over 60, not one at the limit', () => {
    const atLimit = `function sixty() {\n${statements(58)}}\n`;
    const over = `function sixtyOne() {\n${statements(59)}}\n`;
    const long = `${atLimit}${over}${'// filler\n'.repeat(350 - 121)}`;
    const violations = checkSizes([
      { path: 'proxy/long.ts', text: long },
      { path: 'proxy/fits.ts', text: atLimit },
    ]);
    expect(violations.map((violation) => formatSizeViolation('src', violation))).toEqual([
      'src/proxy/long.ts:61: function sixtyOne has 61 lines (limit 60)',
    ]);
    const tooLong = checkSizes([{ path: 'proxy/long.ts', text: `${long}// one more\n` }]);
    expect(tooLong.map((violation) => formatSizeViolation('src', violation))).toEqual([
      'src/proxy/long.ts: file has 351 lines (limit 350)',
      'src/proxy/long.ts:61: function sixtyOne has 61 lines (limit 60)',
    ]);
  });

  it('as a script, fails on a violation by default and lists without failing with --report', async () => {
    const root = scratch.make('ratewarden-sizes-');
    mkdirSync(join(root, 'core'));
    writeFileSync(join(root, 'core', 'big.ts'), `export const big = () => {\n${statements(70)}};\n`);
    const run = (args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/checkSizes.ts', ...args], { cwd: repository });
    const expected = `${join(root, 'core', 'big.ts')}:1: function big has 72 lines (limit 60)`;
    const failure = await run([root]).then(
      () => undefined,
      (error: unknown) => error as { code: number; stdout: string },
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stdout).toContain(expected);
    const report = await run(['--report', root]);
    expect(report.stdout).toContain(expected);
  });
});
