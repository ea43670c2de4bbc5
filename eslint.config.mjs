// ESLint flat config: @eslint/js and typescript-eslint recommended (syntax-only, no type information,
// so the whole tree lints in seconds), then eslint-config-prettier last so that no rule fights Prettier.
// Formatting is Prettier's job (`prettier --check .` in `npm run lint`), not ESLint's.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores([
    'dist/',
    'node_modules/',
    'models/',
    'coverage/',
    'test-output/',
    'scripts/peers/',
    '.venv/',
    'scripts/tmp-diag/',
    '.stryker-tmp/',
    'reports/',
  ]),

  js.configs.recommended,
  tseslint.configs.recommended,

  {
    rules: {
      // Unused bindings stay errors; a leading underscore marks one as deliberately unused (a parameter
      // an override must accept, a property dropped by rest destructuring).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
        },
      ],
    },
  },

  {
    files: ['**/*.ts'],
    rules: {
      // The TypeScript compiles to CommonJS, and `require()` is the only synchronous way to load a module
      // lazily or conditionally: Node-only modules kept out of browser bundles (src/io/atomic.ts,
      // src/train/benchmark.ts), a non-literal id a bundler cannot follow (src/backend.ts), a freshly built
      // file (scripts/build_node_esm.ts), a module loaded inside a measurement (test/import_side_effects.test.ts).
      '@typescript-eslint/no-require-imports': 'off',
      // What that rule guarded against is still an error: a module-level `require` where an `import` belongs.
      'no-restricted-syntax': [
        'error',
        {
          selector: [
            'Program > VariableDeclaration > VariableDeclarator > CallExpression[callee.name="require"]',
            'Program > VariableDeclaration > VariableDeclarator > TSAsExpression > ' +
              'CallExpression[callee.name="require"]',
          ].join(', '),
          message: 'Use an ES `import` at module level; `require()` is for lazy or conditional loading only.',
        },
        {
          selector: 'TSImportEqualsDeclaration > TSExternalModuleReference',
          message: 'Use an ES `import` instead of `import x = require(...)`.',
        },
      ],
    },
  },

  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests poke at untyped things: code evaluated in browser pages (window.tf, window.tfAttention from the
      // script-tag bundles), raw Keras/JSON topologies, deliberately malformed arguments. Production code
      // (src/, scripts/) keeps `any` an error.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },

  // Plain JavaScript outside the TypeScript build.
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    // CommonJS files: `require` is their module system.
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['jest.config.js'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: globals.node },
  },
  {
    // The consumer project's browser entries (bundled by test/package/consumer/build.mjs).
    files: ['test/package/consumer/*.js'],
    languageOptions: { sourceType: 'module', globals: globals.browser },
  },

  prettier,

  // After eslint-config-prettier, which turns max-len off: Prettier wraps code at 120, and this catches
  // what it cannot wrap (long strings and comments).
  {
    rules: { 'max-len': ['error', { code: 120 }] },
  },
);
