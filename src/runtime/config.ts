// Which files are patchable, and the object name each one gets (the kernel's klp_object name).
//
// The config is plain JSON so that the async path's loader thread can receive it through
// `module.register`'s `data`; the matchers are rebuilt from it on each side (see selectorFor).

import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LpError } from '../engine/errors.js';

const CONFIG_FILE = 'livepatch.config.json';

export interface LoaderConfig {
  /** Absolute real path of the app root: object names of the app's files are relative to it. */
  root: string;
  /** Globs over root-relative POSIX paths of the app's own files (node_modules is never matched). */
  include: string[];
  /** Globs matched against root-relative paths of the app's files and against package object names (`pkg/lib/x.js`). */
  exclude: string[];
  /** node_modules packages whose files are instrumented: names or globs (`*`, `@scope/*`). */
  packages: string[];
  /** Where cache.ts keeps instrumented sources. */
  cacheDir: string;
}

const DEFAULT_INCLUDE = ['**/*.js', '**/*.mjs', '**/*.cjs'];
const JS_FILE = /\.[cm]?js$/;

/**
 * The app root of a file or directory: the nearest directory at or above it with a
 * livepatch.config.json, else the nearest with a package.json, else null. Object names are relative
 * to it, so that the app started from any directory has the same names.
 */
export function appRootOf(start: string): string | null {
  let pkg: string | null = null;
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    if (existsSync(join(dir, CONFIG_FILE))) return dir;
    if (pkg === null && existsSync(join(dir, 'package.json'))) pkg = dir;
    if (dirname(dir) === dir) return pkg;
  }
}

/** A tool run from an installed package (node_modules/.bin/tsc) works for the project around it. */
function outsidePackages(dir: string): string {
  const at = dir.split(sep).indexOf('node_modules');
  return at < 0 ? dir : dir.split(sep).slice(0, at).join(sep) || sep;
}

/**
 * Reads the config: `$LIVEPATCH_CONFIG` if set, else `<root>/livepatch.config.json` if it exists, else the
 * defaults. Root is `$LIVEPATCH_ROOT` (relative to the working directory), else the app root of the
 * entry script (appRootOf), else the working directory. Throws LP_ERR_CONFIG.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd(), entry?: string): LoaderConfig {
  const found = env.LIVEPATCH_ROOT ? null : entry ? appRootOf(outsidePackages(dirname(resolve(cwd, entry)))) : null;
  const root = realRoot(found ?? resolve(cwd, env.LIVEPATCH_ROOT || '.'));
  const file = env.LIVEPATCH_CONFIG ? resolve(cwd, env.LIVEPATCH_CONFIG) : join(root, CONFIG_FILE);
  const config: LoaderConfig = {
    root,
    include: DEFAULT_INCLUDE,
    exclude: [],
    packages: [],
    cacheDir: join(root, 'node_modules', '.cache', 'livepatch'),
  };
  if (!env.LIVEPATCH_CONFIG && !existsSync(file)) return config;
  const bad = (field: string, why: string) => new LpError('LP_ERR_CONFIG', `${file}: ${field}: ${why}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw bad('(file)', `cannot read: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad('(file)', `not JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('(top level)', 'expected an object');
  for (const [field, value] of Object.entries(json)) {
    if (field === 'cacheDir') {
      if (typeof value !== 'string' || value === '') throw bad(field, 'expected a non-empty string');
      config.cacheDir = resolve(root, value);
    } else if (field === 'include' || field === 'exclude' || field === 'packages') {
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) {
        throw bad(field, 'expected an array of non-empty strings');
      }
      config[field] = value;
    } else {
      throw bad(field, 'unknown field (known: include, exclude, packages, cacheDir)');
    }
  }
  return config;
}

// Node reports modules by their real paths, so the root must be real too (e.g. /tmp behind a symlink).
function realRoot(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** The object name of a patchable file, or null when the file is not patchable. */
export type Selector = (filename: string) => string | null;

// livepatch's own compiled code (this file is dist/src/runtime/config.js): never instrumented, so the
// runtime cannot patch itself out from under the process.
const SELF = resolve(fileURLToPath(import.meta.url), '..', '..') + sep;

export function selectorFor(config: LoaderConfig): Selector {
  const include = config.include.map(globToRegExp);
  const exclude = config.exclude.map(globToRegExp);
  const packages = config.packages.map(globToRegExp);
  const excluded = (path: string) => exclude.some((re) => re.test(path));
  return (filename) => {
    if (!isAbsolute(filename) || !JS_FILE.test(filename) || filename.startsWith(SELF)) return null;
    if (filename.includes(`${sep}node_modules${sep}`)) {
      const pkg = packageObjectName(filename);
      return pkg !== null && packages.some((re) => re.test(pkg.pkg)) && !excluded(pkg.name) ? pkg.name : null;
    }
    const path = rootRelative(config.root, filename);
    if (path === null || !include.some((re) => re.test(path)) || excluded(path)) return null;
    return `./${path}`;
  };
}

/** One line per `packages` entry that names no package in the root's node_modules (a typo patches nothing). */
export function configWarnings(config: LoaderConfig): string[] {
  const installed = installedPackages(join(config.root, 'node_modules'));
  return config.packages
    .filter((glob) => !installed.some((name) => globToRegExp(glob).test(name)))
    .map((glob) => {
      const near = installed.filter((name) => name.includes(glob.replace(/[*?].*$/, '')) || glob.includes(name)).slice(0, 3);
      const hint = near.length ? `; did you mean ${near.map((n) => `'${n}'`).join(', ')}?` : '';
      return `livepatch: warning: ${CONFIG_FILE}: packages: '${glob}' matches no package in ${join(config.root, 'node_modules')}${hint}`;
    });
}

function installedPackages(dir: string): string[] {
  const list = (d: string) => {
    try {
      return readdirSync(d).filter((n) => !n.startsWith('.'));
    } catch {
      return [];
    }
  };
  return list(dir).flatMap((n) => (n.startsWith('@') ? list(join(dir, n)).map((m) => `${n}/${m}`) : [n]));
}

function rootRelative(root: string, filename: string): string | null {
  const path = relative(root, filename);
  if (path === '..' || path.startsWith(`..${sep}`) || isAbsolute(path)) return null;
  return path.split(sep).join('/');
}

/**
 * For a file inside node_modules: the nearest package (what `packages` selects) and the object name,
 * `<pkg>/<path in package>`. A nested copy keeps the path from the outermost node_modules
 * (`send/node_modules/ms/index.js`), so that two copies of one package never share a name.
 */
function packageObjectName(filename: string): { pkg: string; name: string } | null {
  const parts = filename.split(sep);
  const at = parts.lastIndexOf('node_modules');
  if (at < 0) return null;
  const scoped = parts[at + 1]?.startsWith('@') ? 2 : 1;
  const pkg = parts.slice(at + 1, at + 1 + scoped).join('/');
  const rest = parts.slice(at + 1 + scoped);
  if (rest.length === 0 || pkg.startsWith('.')) return null;
  const outer = parts.indexOf('node_modules');
  const nested = parts[outer + 1]?.startsWith('.') ? at : outer;
  return { pkg, name: parts.slice(nested + 1).join('/') };
}

/**
 * A glob over POSIX paths: `**` as a whole segment matches any number of segments (zero included), `*`
 * any characters but `/`, `?` one character but `/`. A leading `./` is ignored.
 */
export function globToRegExp(glob: string): RegExp {
  const segments = glob.replace(/^\.\//, '').split('/');
  let re = '';
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === '**') {
      re += last ? '.*' : '(?:[^/]*/)*';
      return;
    }
    re += segment.replace(/[.+^${}()|[\]\\]|\*|\?/g, (c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : `\\${c}`));
    if (!last) re += '/';
  });
  return new RegExp(`^${re}$`);
}
