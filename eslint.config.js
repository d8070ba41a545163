// Lint in the style js-libp2p's code is written in: standard (neostandard) with TypeScript.
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'node_modules/**', '.results/**', '.runtimes/**', 'api-docs/**', 'test/interop/.build/**', 'test/fixtures/package-consumer/**']
  }),
  {
    rules: {
      // `void promise` marks a promise deliberately not awaited, as js-libp2p's config allows
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
