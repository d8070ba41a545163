// Lint in the style js-libp2p's code is written in: standard (neostandard) with TypeScript,
// and, as js-libp2p's lint has them, the two rules that need the type checker.
import neostandard, { plugins } from 'neostandard'

const ignores = ['dist/**', 'node_modules/**', '.results/**', '.runtimes/**', 'api-docs/**', 'test/interop/.build/**', 'test/fixtures/package-consumer/**']

export default [
  ...neostandard({ ts: true, ignores }),
  {
    rules: {
      // `void promise` marks a promise deliberately not awaited, as js-libp2p's config allows
      'no-void': ['error', { allowAsStatement: true }]
    }
  },
  {
    name: 'rx-tcp/type-checked',
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname
      }
    },
    plugins: { '@typescript-eslint': plugins['typescript-eslint'].plugin },
    rules: {
      // a promise is awaited, returned, or marked `void`
      '@typescript-eslint/no-floating-promises': 'error',
      // a condition is a boolean: `x != null`, `s !== ''`, `n > 0`, as js-libp2p writes them
      '@typescript-eslint/strict-boolean-expressions': ['error', {
        allowString: false,
        allowNumber: false,
        allowNullableObject: false,
        allowNullableBoolean: false,
        allowNullableString: false,
        allowNullableNumber: false,
        allowAny: false
      }]
    }
  }
]
