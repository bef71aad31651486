// ESLint: eslint-config-oclif (typescript-eslint, unicorn, perfectionist, mocha, n, jsdoc), with
// Prettier owning the layout (eslint-config-prettier turns the rules it would fight off).
// Run by `npm run lint`; `npm run format` applies the fixable rules and Prettier.
import {includeIgnoreFile} from '@eslint/compat'
import oclif from 'eslint-config-oclif'
import prettier from 'eslint-config-prettier'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const gitignorePath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '.gitignore')

export default [
  includeIgnoreFile(gitignorePath),
  ...oclif,
  prettier,
  {
    rules: {
      // sorting keys would change the order of `--json` output and rendered manifests, and the order values are evaluated in
      'perfectionist/sort-objects': 'off',
      // their fix folds the entries of a line after a `// comment` into that comment (it dropped '40001' and '53300'
      // from ledger/transfer.ts's RETRYABLE_SQLSTATES); order in a Set or an includes() list means nothing anyway
      'perfectionist/sort-array-includes': 'off',
      'perfectionist/sort-sets': 'off',
      // numeric enums (ExitCode, the run-log statuses) read in the order of their values
      'perfectionist/sort-enums': ['error', {forceNumericSort: true, type: 'natural'}],
      // `.at(-1)` is typed `T | undefined` where `[length - 1]` is `T`: the fix breaks the type-check
      'unicorn/prefer-at': 'off',
      // `[...x]` needs an iterable where Array.from also takes array-likes (ArrayLike<number> in report/series)
      'unicorn/prefer-spread': 'off',
      // dropping an explicit `undefined` argument breaks calls to parameters typed `T | undefined`
      'unicorn/no-useless-undefined': ['error', {checkArguments: false}],
      // oclif's setting, plus `const {omitted: _omitted, ...rest} = x`: a rest sibling is how a key is left out
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', ignoreRestSiblings: true}],
      // one push per line of the document being built reads like the document
      'unicorn/no-array-push-push': 'off',
      // generators are described in their doc comment's prose
      'jsdoc/require-yields': 'off',
      // sequential on purpose: polling until a deadline, steps in order, one region after another
      'no-await-in-loop': 'off',
      // snake_case names belong to PostgreSQL settings, SQL columns, Prometheus labels and cloud APIs
      camelcase: 'off',
      // the seeded random numbers, hashes and PNG encoding are bit arithmetic
      'no-bitwise': 'off',
      // helpers stay next to their one caller, where they read with their closure
      'unicorn/consistent-function-scoping': 'off',
      // `new Promise((resolve) => setTimeout(resolve, ms))`: the returned timer is harmless
      'no-promise-executor-return': 'off',
      // a parenthesized assignment is how a resolver or a callback is captured: `(resolve) => (done = resolve)`
      'no-return-assign': ['error', 'except-parens'],
      // `void promise` marks a promise left unawaited on purpose
      'no-void': 'off',
      // passing our own one-argument functions to map/filter is the convention
      'unicorn/no-array-callback-reference': 'off',
      // long functions and modules are being split into named phases (issue 17); the size limits would only repeat that list
      complexity: 'off',
      'max-depth': 'off',
      'max-params': 'off',
      // constant functions (HEADER, ADDRESS_PLACEHOLDER) and constructors chosen at run time (`new model(obj)`)
      'new-cap': 'off',
      // `x == null` is the idiom for null or undefined
      eqeqeq: ['error', 'always', {null: 'ignore'}],
      'no-eq-null': 'off',
      // the hashes are defined over UTF-16 code units; codePointAt would change their values
      'unicorn/prefer-code-point': 'off',
      // engines is node >=20.19, where fetch and the other flagged built-ins are stable in practice and used on purpose
      'n/no-unsupported-features/node-builtins': 'off',
    },
  },
  {
    files: ['**/*.ts'],
    rules: {
      // TypeScript resolves names itself, type-only globals such as Mocha included
      'no-undef': 'off',
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: {globals: {module: 'writable', require: 'readonly'}, sourceType: 'commonjs'},
  },
  {
    files: ['libexec/**'],
    rules: {
      // a standalone script run by cron ends with its exit code
      'n/no-process-exit': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Kubernetes objects and parsed YAML/HCL are walked loosely in assertions
      '@typescript-eslint/no-explicit-any': 'off',
      // test files group several top-level describe blocks by concept
      'mocha/max-top-level-suites': 'off',
      // root-level after() hooks clean up what a file (or a helper it imports) started
      'mocha/no-top-level-hooks': 'off',
      // Terraform, workflow and shell text carries `${…}` literally
      'no-template-curly-in-string': 'off',
    },
  },
  {
    files: ['test/helpers/**/*.ts'],
    rules: {
      // helpers register root hooks and export what the tests use
      'mocha/no-exports': 'off',
    },
  },
]
