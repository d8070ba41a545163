// Lint in the style js-libp2p's code is written in: standard (neostandard) with TypeScript.
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'node_modules/**', '.results/**', 'test/interop/.build/**', 'test/fixtures/package-consumer/**', 'docs/api/**', '.runtimes/**']
  })
]
