// `npm run lint`: JavaScript Standard style through neostandard (its @stylistic rules are also the
// format check: there is no separate formatter), typescript-eslint's type-checked rules, and
// import cycles through eslint-plugin-import-x.
import { defineConfig, globalIgnores } from 'eslint/config'
import { neostandard, resolveIgnoresFromGitignore } from 'neostandard'
import tseslint from 'typescript-eslint'
import { createNodeResolver, importX } from 'eslint-plugin-import-x'

export default defineConfig([
  globalIgnores(resolveIgnoresFromGitignore()),
  ...neostandard({ ts: true, noJsx: true }),
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      // Imports carry their `.ts` extension (allowImportingTsExtensions), so plain Node
      // resolution finds every file: no TypeScript resolver needed.
      'import-x/extensions': ['.ts', '.js'],
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js'] })],
    },
    rules: {
      // node:test's test()/describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }],
      }],
      // `void promise` is how this code marks a deliberately unawaited promise (the form
      // no-floating-promises accepts); Standard's no-void would forbid exactly that.
      'no-void': ['error', { allowAsStatement: true }],
      // A switch with a `default` picks a few cases out of a union on purpose (events of interest).
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      'import-x/no-cycle': 'error',
      // Headers, names and terminal-safe text are validated by matching control characters on purpose.
      'no-control-regex': 'off',
      // An async function without await is how this code returns a promise from synchronous work
      // (a throw becomes a rejection), e.g. test doubles of async interfaces.
      '@typescript-eslint/require-await': 'off',
      // tsc reports real redeclarations; this rule only flags the `const X` + `type X` pair (errors.ts).
      '@typescript-eslint/no-redeclare': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests poll until a callback has changed a variable, which this rule cannot see.
      'no-unmodified-loop-condition': 'off',
    },
  },
])
