/**
 * Layer rules for src/ (`npm run layers`). Type-only imports count (tsPreCompilationDeps), since they
 * couple the layers just the same.
 *
 * The folders of src/ in layers, lowest first. A folder imports only folders of lower layers: never
 * one of its own layer, never one above. So there is no cycle between folders, and no upward import.
 * What two folders share moves down to a layer both may import (src/files holds the temp names the
 * state backup and the output writer share; src/providers the local token counts the embedding
 * provider and the estimates share). A new folder must be placed here: the rule `folder-in-a-layer`
 * refuses one that is not.
 */
const LAYERS = [
  ['errors'], //                  typed errors (code, retryable, hint) and the "did you mean" of every message
  ['files', 'resilience'], //      temp file names; retry, backoff, breakers, error classification
  ['providers'], //                one request → one Vertex AI / Gemini API call; knows no store, no job file
  ['job'], //                      the job file: schema, compiler and its checks (one problem helper), templates
  ['quality'], //                  checks of an output (issue 28): text, language, image; their verdicts (pure, no store)
  ['estimate', 'store', 'credentials', 'emulator'], // prices and token counts; the SQLite state; credentials files; the Vertex AI emulator (stands alone)
  ['outputs', 'coordination'], //  files a run writes; who calls which project when (project pool, limiters, shared runs)
  ['cache', 'input'], //           the response cache; input files, a job's rows (check, sync, fingerprint)
  ['engine'], //                   prepares and runs a job: scheduler, executors, run sessions, estimates
  ['observe', 'library'], //       listeners on the engine's events; genbatch as a library
  ['review'], //                   the review page and server
  ['cli'], //                      parses flags, calls the engine and the library, renders
];

/** src/index.ts (the library's entry) sits above every layer; nothing imports it. */
const FOLDERS = LAYERS.flat();
const any = (folders) => `^src/(${folders.join('|')})/`;

/** One rule per folder: the folders it may not import (its own layer's other folders, and every layer above). */
const layerRules = LAYERS.flatMap((layer, index) =>
  layer.map((folder) => {
    const barred = [...layer.filter((other) => other !== folder), ...LAYERS.slice(index + 1).flat()];
    return {
      name: `layer-${folder}`,
      severity: 'error',
      comment: `src/${folder} (layer ${index + 1} of ${LAYERS.length}) imports only folders of lower layers: ${LAYERS.slice(0, index).flat().join(', ') || 'none'}.`,
      from: { path: `^src/${folder}/` },
      to: { path: any(barred) },
    };
  }),
).filter((rule) => !rule.to.path.endsWith('()/'));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle between modules: break it by moving the shared part into a module both can import.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve to a file; the other rules cannot see where it goes.',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'src-not-to-test-or-bench',
      severity: 'error',
      comment: 'Shipped code never depends on tests or benchmarks.',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'folder-in-a-layer',
      severity: 'error',
      comment: 'Every folder of src/ has its place in LAYERS (.dependency-cruiser.cjs): add a new one there.',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: [any(FOLDERS), '^src/index\\.ts$'] },
    },
    {
      name: 'folder-in-a-layer-importing',
      severity: 'error',
      comment: 'Every folder of src/ has its place in LAYERS (.dependency-cruiser.cjs): add a new one there.',
      from: { path: '^src/', pathNot: [any(FOLDERS), '^src/index\\.ts$'] },
      to: {},
    },
    {
      name: 'nothing-imports-the-library-entry',
      severity: 'error',
      comment: "src/index.ts is the library's entry, above every layer.",
      from: { path: '^src/' },
      to: { path: '^src/index\\.ts$' },
    },
    {
      name: 'emulator-stands-alone',
      severity: 'error',
      comment:
        'The Vertex AI emulator plays Google: besides errors, durations and file positions (src/job) and resilience helpers, it shares nothing with the client side (no providers).',
      from: { path: '^src/emulator/' },
      to: { path: '^src/', pathNot: '^src/(emulator|errors|files|resilience|job)/' },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: ['node_modules'] },
    exclude: { path: ['^node_modules/', '(^|/)\\.genbatch/', '^out/'] },
    // Type-only imports are dependencies too (`import type`, inline `type` specifiers).
    tsPreCompilationDeps: true,
    // NodeNext: `./foo.js` in a .ts file means ./foo.ts.
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json', '.d.ts'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    builtInModules: { add: [] },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
