import { createRequire } from 'node:module';
import type * as TS from 'typescript';

// Loaded through require: importing the compiler's 9 MB CommonJS file as ES module costs about
// half a second more (Node scans it for named exports), on every run of the checks.
const ts: typeof TS = createRequire(import.meta.url)('typescript');

export interface ImportSite {
  /** The module specifier as written, e.g. `../config/durations.js` or `better-sqlite3`. */
  specifier: string;
  /** 1-based line of the specifier. */
  line: number;
  /** True when the import brings in types only (erased at compile time). */
  typeOnly: boolean;
}

/**
 * Every module a file refers to: import and export-from declarations, `import x = require()`,
 * dynamic `import()` and `import('…').Type`. Parsed with the compiler rather than matched with a
 * regular expression, so imports inside strings or comments are not counted and none is missed
 * because it spans lines. A dynamic import of a computed name cannot be checked and is returned
 * with the specifier `<computed>`.
 */
export function scanImports(fileName: string, text: string): ImportSite[] {
  // No parent links are needed to find imports; leaving them out makes the parse cheaper.
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const sites: ImportSite[] = [];
  const add = (node: TS.Node, specifier: string, typeOnly: boolean): void => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    sites.push({ specifier, line, typeOnly });
  };
  const visit = (node: TS.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier, node.moduleSpecifier.text, importIsTypeOnly(node));
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier, node.moduleSpecifier.text, exportIsTypeOnly(node));
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const expression = node.moduleReference.expression;
      if (ts.isStringLiteral(expression)) add(expression, expression.text, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const argument = node.arguments[0];
      if (argument !== undefined && ts.isStringLiteralLike(argument)) add(argument, argument.text, false);
      else add(node, '<computed>', false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node.argument, node.argument.literal.text, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return sites;
}

/** `import type …`, or `import { type A, type B }` with nothing else: the compiler erases it. */
function importIsTypeOnly(node: TS.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (clause === undefined) return false;
  if (clause.isTypeOnly) return true;
  const bindings = clause.namedBindings;
  return (
    clause.name === undefined &&
    bindings !== undefined &&
    ts.isNamedImports(bindings) &&
    bindings.elements.length > 0 &&
    bindings.elements.every((element) => element.isTypeOnly)
  );
}

function exportIsTypeOnly(node: TS.ExportDeclaration): boolean {
  if (node.isTypeOnly) return true;
  const clause = node.exportClause;
  return (
    clause !== undefined &&
    ts.isNamedExports(clause) &&
    clause.elements.length > 0 &&
    clause.elements.every((element) => element.isTypeOnly)
  );
}
