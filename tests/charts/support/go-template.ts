/**
 * A structural reading of Helm's Go templates, for tests on a machine without helm: the actions
 * (`{{ ... }}`), whether their blocks nest, and what they refer to. It renders nothing; helm
 * template / helm lint remain the real check (README "Deployment").
 */
export interface TemplateAction {
  /** The action's text without delimiters, trim markers and surrounding blanks. */
  readonly text: string;
  readonly line: number;
}

const blockOpeners = new Set(['if', 'range', 'with', 'define', 'block']);

/** The actions of a template, or a problem with its delimiters. */
export function actions(source: string): TemplateAction[] {
  const found: TemplateAction[] = [];
  let at = 0;
  for (;;) {
    const open = source.indexOf('{{', at);
    const stray = source.indexOf('}}', at);
    if (stray !== -1 && (open === -1 || stray < open)) throw new Error(`'}}' without '{{' on line ${lineOf(source, stray)}`);
    if (open === -1) return found;
    const close = source.indexOf('}}', open + 2);
    if (close === -1) throw new Error(`'{{' on line ${lineOf(source, open)} is never closed`);
    const inner = source.slice(open + 2, close);
    if (inner.includes('{{')) throw new Error(`'{{' on line ${lineOf(source, open)} opens another before it closes`);
    found.push({ text: inner.replace(/^-\s/, '').replace(/\s-$/, '').trim(), line: lineOf(source, open) });
    at = close + 2;
  }
}

/** Problems with block structure: every if/range/with/define/block has its end, else only inside if/with/range. */
export function blockProblems(source: string): string[] {
  const problems: string[] = [];
  const stack: TemplateAction[] = [];
  for (const action of actions(source)) {
    if (action.text.startsWith('/*')) {
      if (!action.text.endsWith('*/')) problems.push(`line ${action.line}: unterminated comment`);
      continue;
    }
    const keyword = action.text.split(/\s+/)[0]!;
    if (blockOpeners.has(keyword)) stack.push(action);
    else if (keyword === 'else') {
      const top = stack.at(-1);
      if (!top || !['if', 'with', 'range'].includes(top.text.split(/\s+/)[0]!)) problems.push(`line ${action.line}: else outside if/with/range`);
    } else if (keyword === 'end') {
      if (!stack.pop()) problems.push(`line ${action.line}: end without an open block`);
    }
  }
  for (const open of stack) problems.push(`line ${open.line}: '${open.text}' has no end`);
  return problems;
}

/** Names given to `define`. */
export function definedNames(source: string): string[] {
  return [...source.matchAll(/\{\{-?\s*define\s+"([^"]+)"/g)].map((m) => m[1]!);
}

/** Names used by `include` and `template`. */
export function includedNames(source: string): string[] {
  return [...source.matchAll(/\b(?:include|template)\s+"([^"]+)"/g)].map((m) => m[1]!);
}

/** `.Values.a.b` paths (also `$.Values...`), as key lists. */
export function valuePaths(source: string): string[][] {
  return [...source.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)].map((m) => m[1]!.slice(1).split('.'));
}

/** `.Files.Get "path"` arguments. */
export function filesRead(source: string): string[] {
  return [...source.matchAll(/\.Files\.Get\s+"([^"]+)"/g)].map((m) => m[1]!);
}

function lineOf(source: string, index: number): number {
  return source.slice(0, index).split('\n').length;
}
