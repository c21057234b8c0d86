/**
 * Layer rules for src/ (`npm run layers`). Each rule names the folders a layer may not reach; type-only imports count
 * (tsPreCompilationDeps), since they couple the layers just the same.
 * @type {import('dependency-cruiser').IConfiguration}
 */
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
      name: 'emulator-stands-alone',
      severity: 'error',
      comment: 'The Vertex AI emulator stands alone: it knows nothing of the engine, the CLI, the state store or the credentials.',
      from: { path: '^src/emulator/' },
      to: { path: '^src/(engine|cli|store|credentials)/' },
    },
    {
      name: 'engine-not-to-emulator-or-cli',
      severity: 'error',
      comment: 'The engine runs jobs; starting an emulator or talking to a terminal belongs to the CLI.',
      from: { path: '^src/engine/' },
      to: { path: '^src/(emulator|cli)/' },
    },
    {
      name: 'credentials-not-to-engine-or-cli',
      severity: 'error',
      comment: 'Credentials and the project pool sit below the engine and the CLI.',
      from: { path: '^src/credentials/' },
      to: { path: '^src/(engine|cli)/' },
    },
    {
      name: 'store-stands-low',
      severity: 'error',
      comment: 'The state store is persistence only: no engine, CLI, providers, credentials or emulator.',
      from: { path: '^src/store/' },
      to: { path: '^src/(engine|cli|providers|credentials|emulator)/' },
    },
    {
      name: 'providers-not-to-store-engine-cli',
      severity: 'error',
      comment: 'Providers turn one request into one call; they do not persist, schedule or print.',
      from: { path: '^src/providers/' },
      to: { path: '^src/(store|engine|cli)/' },
    },
    {
      name: 'resilience-not-to-engine-cli-store',
      severity: 'error',
      comment: 'Retry and error classification are policies the engine uses, not the other way round.',
      from: { path: '^src/resilience/' },
      to: { path: '^src/(engine|cli|store)/' },
    },
    {
      name: 'only-cli-imports-cli',
      severity: 'error',
      comment: 'src/cli is the top layer: nothing else in src/ imports it.',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'job-not-to-engine-cli-store',
      severity: 'error',
      comment: 'The job model (loading, schema, templates) is read by the engine and the CLI; it does not depend on them.',
      from: { path: '^src/job/' },
      to: { path: '^src/(engine|cli|store)/' },
    },
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
