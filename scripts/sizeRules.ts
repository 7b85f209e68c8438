import { createRequire } from 'node:module';
import type * as TS from 'typescript';
import type { SourceFile } from './sourceFiles.js';

// Loaded through require, as in importScan.ts: half a second less than an ES import.
const ts: typeof TS = createRequire(import.meta.url)('typescript');

/** The house rules' limits: no file in src/ over 350 lines, no function over 60 lines. */
export const fileLineLimit = 350;
export const functionLineLimit = 60;

export interface SizeViolation {
  file: string;
  /** 1-based line where the function starts; 0 for a whole file. */
  line: number;
  /** The function's name (`Class.method`, `outer › inner`), or '' for a whole file. */
  name: string;
  lines: number;
  limit: number;
}

/**
 * How sizes are measured:
 * - a file's lines are its physical lines (what `wc -l` counts, blank and comment lines included);
 * - a function is a function declaration, a method, a constructor, a getter or setter, an arrow
 *   function or a function expression that has a body; its lines run from the line where the
 *   node starts (its modifiers, not the doc comment above it) to the line where it ends;
 * - nested functions count in the function that contains them (they are part of what a reader of
 *   it must hold), and are measured on their own as well: a 70-line callback inside a 90-line
 *   function is reported twice, once as itself and once within its outer function.
 */
export function checkSizes(files: readonly SourceFile[]): SizeViolation[] {
  const violations: SizeViolation[] = [];
  for (const file of files) {
    const lines = physicalLines(file.text);
    if (lines > fileLineLimit) violations.push({ file: file.path, line: 0, name: '', lines, limit: fileLineLimit });
    for (const measured of measureFunctions(file.path, file.text)) {
      if (measured.lines > functionLineLimit) violations.push({ file: file.path, ...measured, limit: functionLineLimit });
    }
  }
  return violations;
}

export function physicalLines(text: string): number {
  if (text === '') return 0;
  const breaks = text.split('\n').length - 1;
  return text.endsWith('\n') ? breaks : breaks + 1;
}

export interface FunctionSize {
  line: number;
  name: string;
  lines: number;
}

/** Every function of a file with a body, in source order. */
export function measureFunctions(fileName: string, text: string): FunctionSize[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const sizes: FunctionSize[] = [];
  const lineOf = (position: number): number => source.getLineAndCharacterOfPosition(position).line + 1;
  const visit = (node: TS.Node, enclosing: string): void => {
    let inside = enclosing;
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const own = functionName(node);
      inside = enclosing === '' ? own : `${enclosing} › ${own}`;
      const first = lineOf(node.getStart(source));
      sizes.push({ line: first, name: inside, lines: lineOf(node.getEnd()) - first + 1 });
    }
    ts.forEachChild(node, (child) => visit(child, inside));
  };
  visit(source, '');
  return sizes;
}

function functionName(node: TS.SignatureDeclaration): string {
  const className = ts.isClassLike(node.parent) ? (node.parent.name?.text ?? '(class)') : undefined;
  const qualified = (name: string): string => (className === undefined ? name : `${className}.${name}`);
  if (ts.isConstructorDeclaration(node)) return qualified('constructor');
  if (node.name !== undefined) return qualified(node.name.getText());
  const parent = node.parent;
  if (
    (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) &&
    parent.initializer === node
  ) {
    return qualified(parent.name.getText());
  }
  const kind = ts.isArrowFunction(node) ? 'arrow' : 'function';
  if (ts.isCallExpression(parent)) return `${kind} passed to ${calleeName(parent.expression)}`;
  if (ts.isNewExpression(parent)) return `${kind} passed to new ${calleeName(parent.expression)}`;
  return `(${kind})`;
}

/** `new Promise(…)` → Promise; `server.on(…)` → server.on; a long callee is cut short. */
function calleeName(expression: TS.Expression): string {
  const text = expression.getText().replace(/\s+/g, '');
  return text.length <= 40 ? text : `${text.slice(0, 37)}...`;
}

export function formatSizeViolation(root: string, violation: SizeViolation): string {
  if (violation.line === 0) return `${root}/${violation.file}: file has ${violation.lines} lines (limit ${violation.limit})`;
  return `${root}/${violation.file}:${violation.line}: function ${violation.name} has ${violation.lines} lines (limit ${violation.limit})`;
}
