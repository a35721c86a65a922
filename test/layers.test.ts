/**
 * Dependencies point one way. Each folder of src/ may import only the folders below it, so the
 * library (`tollgate`) never loads the AI SDK, Hono or a processor's SDK, and each surface
 * (`tollgate/ai`, `tollgate/hono`, `tollgate/server`) builds on the library, never the reverse.
 * Read from the source as text: every static import, re-export and dynamic import.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** What each part may import, besides itself. */
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  db: ['core'],
  engine: ['core', 'db'],
  processors: ['core', 'db', 'engine'],
  // A processor that loads its vendor's SDK is a surface of its own: the library never loads it.
  'processors/stripe': ['core', 'db', 'engine', 'processors'],
  'processors/paddle': ['core', 'db', 'engine', 'processors'],
  ai: ['core', 'engine'],
  hono: ['core', 'db', 'engine', 'processors'],
  admin: ['core', 'db', 'engine', 'processors', 'hono'],
  'billing-page': ['core', 'db', 'engine', 'processors', 'hono', 'admin'],
  server: ['core', 'db', 'engine', 'processors', 'processors/stripe', 'processors/paddle', 'ai', 'hono', 'admin', 'billing-page'],
};

/** The entry points, as package.json exports them, and what each may load. */
const ENTRIES: Record<string, readonly string[]> = {
  'index.ts': ['core', 'db', 'engine', 'processors'],
  'main.ts': ['core', 'db', 'engine', 'processors', 'processors/stripe', 'processors/paddle', 'ai', 'hono', 'admin', 'billing-page', 'server'],
};

/** Packages the library's own parts must never load: they belong to the surfaces above. */
const SURFACE_PACKAGES = /^(ai|@ai-sdk\/.*|hono|hono\/.*|@hono\/.*|stripe|@paddle\/.*|pino|swagger-ui-dist|htmx\.org|uplot)$/;
const LIBRARY = new Set(['core', 'db', 'engine', 'processors']);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)|(?:^|\n)\s*import\s+'([^']+)'/g)];
  return specifiers.map((m) => (m[1] ?? m[2] ?? m[3])!);
}

/** Processors that load their vendor's SDK, each a part of its own. */
const VENDOR_PROCESSORS = new Set(['stripe', 'paddle']);

/** The part of src/ a file belongs to: its first folder (a vendor's processor: its own), or the entry file's name. */
const partOf = (file: string) => {
  const [first, second] = relative(SRC, file).split('/');
  return first === 'processors' && VENDOR_PROCESSORS.has(second!) ? `processors/${second}` : first!;
};

describe('dependencies', () => {
  const files = sources(SRC);

  it('point one way: each part imports only the parts below it', () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = partOf(file);
      const allowed = ALLOWED[from] ?? ENTRIES[from];
      expect(allowed, `${from}: a part of src/ the layering does not know`).toBeDefined();
      for (const specifier of importsOf(file)) {
        if (!specifier.startsWith('.')) {
          if (LIBRARY.has(from) && SURFACE_PACKAGES.test(specifier)) wrong.push(`${relative(SRC, file)} loads ${specifier}`);
          continue;
        }
        const to = partOf(resolve(dirname(file), specifier));
        if (to !== from && !allowed!.includes(to)) wrong.push(`${relative(SRC, file)} imports ${specifier} (${from} → ${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('the check sees an import that points back up', () => {
    // A file of the library importing the HTTP layer: what the check above must catch.
    const bad = join(SRC, 'engine', 'example.ts');
    const to = partOf(resolve(dirname(bad), '../hono/errors.ts'));
    expect(ALLOWED.engine).not.toContain(to);
    expect(SURFACE_PACKAGES.test('hono/cookie') && SURFACE_PACKAGES.test('@ai-sdk/provider') && !SURFACE_PACKAGES.test('zod')).toBe(true);
  });
});

describe('the app kit (app/)', () => {
  const APP = fileURLToPath(new URL('../app/', import.meta.url));
  /** What a host app may load of Tollgate: its published entry points, never its source. */
  const ENTRY_POINTS = new Set(['tollgate', 'tollgate/ai', 'tollgate/hono', 'tollgate/server', 'tollgate/stripe', 'tollgate/paddle']);

  it('builds on the package entry points only, as a team outside the project would', () => {
    const wrong: string[] = [];
    for (const file of sources(APP)) {
      for (const specifier of importsOf(file)) {
        const outside = specifier.startsWith('.') && relative(APP, resolve(dirname(file), specifier)).startsWith('..');
        const internal = specifier.startsWith('tollgate/') && !ENTRY_POINTS.has(specifier);
        if (outside || internal) wrong.push(`${relative(APP, file)} imports ${specifier}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
