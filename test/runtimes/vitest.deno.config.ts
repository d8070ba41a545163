/**
 * The project's vitest config, for the matrix's runs on Deno: the compliance
 * suite and its chai fixture (`aegir`, a `file:` dependency whose real path is
 * outside `node_modules`) are loaded through vitest's own module runner. Deno's
 * loader refuses that fixture when npm code imports it natively ("Loading
 * unprepared module").
 */
import { defineConfig, mergeConfig } from 'vitest/config'
import base from '../../vitest.config.ts'

export default mergeConfig(base, defineConfig({
  test: {
    server: { deps: { inline: [/@libp2p\/interface-compliance-tests/, /aegir/] } }
  }
}))
