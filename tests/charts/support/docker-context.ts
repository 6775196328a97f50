import { cpSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/**
 * The Dockerfile and .dockerignore read as docker would, so a test can lay out what a build
 * stage sees without docker: stages, COPY sources, and which context paths are ignored.
 */
export interface DockerStage {
  readonly name: string | undefined;
  readonly text: string;
  /** Sources of COPY lines that read the build context (not `--from`), with their destinations. */
  readonly copies: { sources: string[]; destination: string }[];
}

export function dockerStages(dockerfile: string): DockerStage[] {
  return dockerfile
    .split(/^(?=FROM )/m)
    .filter((part) => part.startsWith('FROM '))
    .map((text) => ({
      name: /^FROM \S+ AS (\S+)/.exec(text)?.[1],
      text,
      copies: [...text.matchAll(/^COPY (?!--)(.+)$/gm)].map(([, args]) => {
        const words = args!.trim().split(/\s+/);
        return { sources: words.slice(0, -1), destination: words.at(-1)! };
      }),
    }));
}

/**
 * `(path) => ignored` for context-relative paths, by .dockerignore rules: `*` within a segment,
 * `**` across segments, a rule on a directory covers what is under it, `!` re-includes, and the
 * last matching rule wins.
 */
export function dockerignore(contextDir: string): (path: string) => boolean {
  const rules = readFileSync(join(contextDir, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => ({ include: line.startsWith('!'), pattern: toRegExp(line.replace(/^!/, '')) }));
  return (path) => {
    const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const rule of rules) if (prefixes.some((p) => rule.pattern.test(p))) ignored = !rule.include;
    return ignored;
  };
}

/**
 * Copies the files of `sources` (context-relative) that .dockerignore lets through into `dest`
 * at the same relative paths: `COPY src ./src`, `COPY a b ./`, `COPY dir/file ./dir/`.
 */
export function copyFromContext(contextDir: string, sources: string[], dest: string, ignored: (path: string) => boolean): void {
  for (const source of sources) {
    for (const file of filesUnder(join(contextDir, source))) {
      const path = relative(contextDir, file);
      if (ignored(path)) continue;
      mkdirSync(dirname(join(dest, path)), { recursive: true });
      cpSync(file, join(dest, path));
    }
  }
}

function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((entry) => filesUnder(join(path, entry)));
}

function toRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/^\/+|\/+$/g, '')
    .split(/(\*\*\/?|\*|\?)/)
    .map((part) => (part.startsWith('**') ? '(?:.*/)?' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}
