// Bundles the compiled CLI (dist/, from tsc) and the pure-JavaScript packages it uses into one file,
// dist/cli/genbatch.cjs, which bin/genbatch.js runs (with a V8 code cache). Loading ~300 ES modules
// one by one took ~240 ms before the first line of genbatch ran; the bundle loads in ~120 ms, ~60 ms
// from its code cache. Run by `npm run build`, after tsc. The library (dist/index.js) is not bundled.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

/**
 * Kept out of the bundle and required from node_modules at run time: native addons (better-sqlite3,
 * sharp), what is loaded only for some jobs (Cloud Storage, Redis), and what has optional native
 * parts or credentials flows the tests cannot reach (ws, google-auth-library), so they run as published.
 */
const EXTERNAL = ['better-sqlite3', 'sharp', 'ioredis', '@google-cloud/storage', 'google-auth-library', 'ws', 'undici'];

/**
 * A compiled module that finds files beside itself (`new URL('./migrations/', import.meta.url)`,
 * a worker script) is given its own dist/ URL, as if it had not been bundled.
 */
const ownUrls = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, (args) => {
      if (!args.path.startsWith(dist + sep)) return undefined;
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      const own = relative(dist, args.path).split('\\').join('/');
      return { contents: source.replaceAll('import.meta.url', `__genbatchModuleUrl(${JSON.stringify(own)})`), loader: 'js' };
    });
  },
};

/**
 * Loaded only by a job with a `language:` check, and too big to parse at every start (eld's n-gram
 * data, ~1.3 MB of ES modules that publish no CommonJS entry): bundled apart into
 * dist/vendor/eld-extrasmall.cjs, which the CLI bundle requires when the check first runs.
 */
const LAZY_VENDORED = { 'eld/extrasmall': 'eld-extrasmall.cjs' };
for (const [specifier, file] of Object.entries(LAZY_VENDORED)) {
  await build({
    stdin: { contents: `export * from '${specifier}';`, resolveDir: root, sourcefile: `${file}-entry.js` },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outfile: join(dist, 'vendor', file),
    logLevel: 'warning',
    legalComments: 'none',
  });
}
const lazyVendored = {
  name: 'lazy-vendored',
  setup(b) {
    // Relative to the bundle (dist/cli/genbatch.cjs), as require() resolves it.
    const filter = new RegExp(`^(${Object.keys(LAZY_VENDORED).join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: `../vendor/${LAZY_VENDORED[args.path]}`, external: true }));
  },
};

const { outputFiles } = await build({
  stdin: {
    contents: "import { main } from './main.js';\nmain(process.argv.slice(2)).then((code) => process.exit(code));\n",
    resolveDir: join(dist, 'cli'),
    sourcefile: 'genbatch-bundle-entry.js',
  },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: join(dist, 'cli', 'genbatch.cjs'),
  external: EXTERNAL,
  // import() of the externals becomes require(): a script run from a code cache has no ES module loader.
  supported: { 'dynamic-import': false },
  banner: {
    js: "const __genbatchModuleUrl = (own) => require('node:url').pathToFileURL(require('node:path').join(__dirname, '..', own)).href;",
  },
  plugins: [ownUrls, lazyVendored],
  logLevel: 'warning',
  legalComments: 'none',
  write: false,
});

// ASCII only: V8 keeps a script's source for as long as it runs (to compile functions when first
// called), and one character above U+007F, even in a comment, makes it two bytes a character: 7.7 MB
// instead of 3.8 MB. An escape means the same thing in a string, a regular expression or a comment.
for (const file of outputFiles) {
  writeFileSync(
    file.path,
    file.text.replace(/[\u0080-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`),
  );
}
