// `npm run lint`: typescript-eslint's type-checked rules over every TypeScript file; Prettier owns the layout.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', '.tap/', 'node_modules/', 'sdk/openapi.d.ts'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // The async mistakes that matter in Fastify handlers: a promise nobody awaits, or one passed where a callback is expected.
      '@typescript-eslint/no-floating-promises': [
        'error',
        // tap queues a subtest when it is declared and reports its failures itself.
        { allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      // A name that hides a global (`Request`, `File`) or an outer binding reads as the wrong thing.
      'no-shadow': 'off',
      '@typescript-eslint/no-shadow': [
        'error',
        // A subtest's own `t` hides its parent's on purpose: assertions go to the innermost test.
        { builtinGlobals: true, allow: ['t'] },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // Fastify plugins and tap subtests are async by contract, awaiting something or not.
      '@typescript-eslint/require-await': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      // A body that Prettier spreads over several lines gets braces, so that it reads as one block.
      curly: ['error', 'multi-line', 'consistent'],
    },
  },
  {
    // Migrations are frozen and know no application types: they take `Kysely<any>`, as Kysely's documentation does.
    files: ['migrations/**/*.ts', 'src/db/migrate.ts', 'src/db/portable.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Tests read JSON response bodies as `any`: test/documented.ts checks each against the document first.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
)
