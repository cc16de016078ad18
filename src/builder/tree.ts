// A tree (one side of a build) as the runtime would see it: every patchable file under the app root,
// by the object name the runtime gives it (config.ts's selector, the same livepatch.config.json), with
// its source and its module format. kpatch-build's analogue is the list of changed object files.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { parseModule, type Format } from '../naming/sites.js';
import { globToRegExp, selectorFor, type LoaderConfig } from '../runtime/config.js';

export interface TreeModule {
  /** The object name (`./lib/x.js`, `pkg/lib/x.js`). */
  name: string;
  /** Path relative to the tree's root, POSIX separators. */
  file: string;
  /** Absolute path. */
  path: string;
  /** The text the loader hashes and instruments (no byte-order mark). */
  source: string;
  format: Format;
}

const SKIP_DIRS = new Set(['.git', 'node_modules']);

/** Every patchable module of the tree rooted at `config.root`, by object name. */
export function readTree(config: LoaderConfig): Map<string, TreeModule> {
  const select = selectorFor(config);
  const out = new Map<string, TreeModule>();
  const add = (path: string) => {
    const name = select(path);
    if (name === null) return;
    const source = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
    out.set(name, { name, file: relative(config.root, path).split(sep).join('/'), path, source, format: formatOf(path, source, config.root) });
  };
  walk(config.root, add);
  const modules = join(config.root, 'node_modules');
  for (const pkg of packagesIn(modules, config.packages)) walk(join(modules, pkg), add);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function walk(dir: string, visit: (path: string) => void): void {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) {
      if (!SKIP_DIRS.has(name)) walk(path, visit);
    } else if (st.isFile()) {
      visit(path);
    }
  }
}

/** The installed packages (`name`, `@scope/name`) that the config's `packages` globs select. */
function packagesIn(modules: string, globs: readonly string[]): string[] {
  if (globs.length === 0 || !existsSync(modules)) return [];
  const res = globs.map(globToRegExp);
  const names = readdirSync(modules)
    .filter((n) => !n.startsWith('.'))
    .flatMap((n) => (n.startsWith('@') ? readdirSync(join(modules, n)).map((m) => `${n}/${m}`) : [n]));
  return names.filter((n) => res.some((re) => re.test(n))).sort();
}

/**
 * The format Node gives the file: by extension, else the nearest package.json's "type", else
 * CommonJS unless only ES module syntax parses (Node's syntax detection).
 */
function formatOf(path: string, source: string, root: string): Format {
  if (path.endsWith('.mjs')) return 'module';
  if (path.endsWith('.cjs')) return 'commonjs';
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const type = (() => {
        try {
          return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type;
        } catch {
          return undefined;
        }
      })();
      if (type === 'module') return 'module';
      if (type === 'commonjs') return 'commonjs';
      break;
    }
    if (dir === root || dirname(dir) === dir) break;
  }
  try {
    parseModule(source, 'commonjs');
    return 'commonjs';
  } catch {
    try {
      parseModule(source, 'module');
      return 'module';
    } catch {
      return 'commonjs';
    }
  }
}
