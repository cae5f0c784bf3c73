/**
 * Every ```ts block of README.md and docs/*.md compiles against the package, so a snippet cannot rot.
 *
 * Each block is written as a module of its own (complete, with its imports: no preamble is added) to a
 * temporary directory under node_modules/.cache (so that its imports resolve from the repository's
 * node_modules) and the whole set is type-checked in one TypeScript program, with tsconfig.json's
 * compiler options (decorators, strict, nodenext) and its `paths`: `nest-django-sessions` →
 * src/sessions/index.ts, `nest-django-sessions/auth` → src/sessions/auth/index.ts. A failure names the
 * Markdown file, the line of the snippet and TypeScript's message. Shell, Python and other
 * illustrations are not ```ts blocks and are not compiled.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ts from 'typescript';

const root = resolve(__dirname, '../..');

interface Snippet {
  /** The Markdown file, relative to the repository. */
  doc: string;
  /** Line (1-based) of the snippet's first code line in the Markdown file. */
  line: number;
  code: string;
}

/** The ```ts (or ```typescript) blocks of a Markdown text; blocks indented in list items are dedented. */
function extractSnippets(doc: string, markdown: string): Snippet[] {
  const lines = markdown.split('\n');
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(ts|typescript)\s*$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !(lines[j].trim().startsWith(fence) && lines[j].trim().replace(/[`~]/g, '') === ''); j++) {
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j].trimStart());
    }
    if (j === lines.length) throw new Error(`${doc}:${i + 1}: unclosed code block`);
    snippets.push({ doc, line: i + 2, code: body.join('\n') });
    i = j;
  }
  return snippets;
}

function documents(): string[] {
  const docsDir = join(root, 'docs');
  const docs = existsSync(docsDir)
    ? readdirSync(docsDir)
        .filter((name) => name.endsWith('.md'))
        .sort()
        .map((name) => join('docs', name))
    : [];
  return ['README.md', ...docs];
}

function compilerOptions(): ts.CompilerOptions {
  const configPath = join(root, 'tsconfig.json');
  const read = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path));
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root, undefined, configPath);
  return {
    ...parsed.options,
    paths: {
      'nest-django-sessions': [join(root, 'src/sessions/index.ts')],
      'nest-django-sessions/auth': [join(root, 'src/sessions/auth/index.ts')],
      'nest-django-sessions/socket.io': [join(root, 'src/sessions/websockets/sessions-io.adapter.ts')],
      'nest-django-sessions/ws': [join(root, 'src/sessions/websockets/sessions-ws.adapter.ts')],
      'nest-django-sessions/health': [join(root, 'src/sessions/telemetry/sessions-health.indicator.ts')],
    },
    noEmit: true,
    incremental: false,
    composite: false,
    declaration: false,
    sourceMap: false,
    tsBuildInfoFile: undefined,
    rootDir: undefined,
    outDir: undefined,
    types: ['node'],
  };
}

interface SnippetFailure {
  snippet: Snippet;
  message: string;
}

/** Type-checks the snippets in one program; one failure per diagnostic, located in the Markdown file. */
function checkSnippets(snippets: readonly Snippet[]): SnippetFailure[] {
  const cacheDir = join(root, 'node_modules', '.cache');
  mkdirSync(cacheDir, { recursive: true });
  const dir = mkdtempSync(join(cacheDir, 'readme-snippets-'));
  try {
    const files = new Map<string, Snippet>();
    snippets.forEach((snippet, index) => {
      const name = `${snippet.doc.replace(/[^A-Za-z0-9]+/g, '-')}-line-${snippet.line}-${index}.ts`;
      const file = join(dir, name);
      // `export {}` makes a snippet without imports a module too, so snippets never share a scope.
      writeFileSync(file, `${snippet.code}\nexport {};\n`);
      files.set(resolve(file), snippet);
    });
    const program = ts.createProgram([...files.keys()], compilerOptions());
    const failures: SnippetFailure[] = program
      .getOptionsDiagnostics()
      .concat(program.getGlobalDiagnostics())
      .map((diagnostic) => ({
        snippet: { doc: 'tsconfig.json', line: 0, code: '' },
        message: ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'),
      }));
    for (const [file, snippet] of files) {
      const source = program.getSourceFile(file);
      if (!source) throw new Error(`TypeScript did not load ${file}`);
      for (const diagnostic of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
        const { line } = diagnostic.start === undefined ? { line: 0 } : source.getLineAndCharacterOfPosition(diagnostic.start);
        const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
        failures.push({
          snippet,
          message: `${snippet.doc}:${snippet.line + line} (snippet at line ${snippet.line}): TS${diagnostic.code}: ${text}\n    ${snippet.code.split('\n')[line] ?? ''}`,
        });
      }
    }
    return failures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('TypeScript snippets of README.md and docs/*.md', () => {
  const snippets = documents().flatMap((doc) => extractSnippets(doc, readFileSync(join(root, doc), 'utf8')));

  it('finds the snippets', () => {
    expect(snippets.filter((s) => s.doc === 'README.md').length).toBeGreaterThanOrEqual(5);
  });

  it('compiles every snippet against the package, and reports a snippet with a type error', () => {
    // A snippet with a type error, checked in the same program: proves the check can fail.
    const canary: Snippet = {
      doc: 'canary.md',
      line: 1,
      code: "import { SessionsModule } from 'nest-django-sessions';\nSessionsModule.forRoot({ secretKey: 42, engine: 'db' });",
    };
    const failures = checkSnippets([...snippets, canary]);
    const canaryFailures = failures.filter((failure) => failure.snippet === canary);
    expect(canaryFailures.map((failure) => failure.message).join('\n')).toMatch(/canary\.md:2 .*TS2322/);
    const docFailures = failures.filter((failure) => failure.snippet !== canary).map((failure) => failure.message);
    if (docFailures.length > 0) {
      throw new Error(
        `${docFailures.length} TypeScript error(s) in the documentation's snippets (of ${snippets.length} snippets):\n${docFailures.join('\n')}`,
      );
    }
  }, 180_000);
});
