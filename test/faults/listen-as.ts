// Run by bad-input.spec.ts as an unprivileged uid: tries to listen on each
// multiaddr given on the command line and prints what happened as JSON.
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { tcp } from '../../src/index.ts'
import type { Upgrader } from '@libp2p/interface'

const upgrader = {
  upgradeInbound: async () => { throw new Error('no upgrades here') },
  upgradeOutbound: async () => { throw new Error('no upgrades here') }
} as unknown as Upgrader

const transport = tcp()({ logger: defaultLogger() })
const results = []
for (const addr of process.argv.slice(2)) {
  const listener = transport.createListener({ upgrader })
  try {
    await listener.listen(multiaddr(addr))
    results.push({ addr, listened: true })
  } catch (err: any) {
    results.push({ addr, listened: false, name: err?.name, message: err?.message, code: err?.code ?? err?.cause?.code })
  }
  await listener.close()
}
process.stdout.write(JSON.stringify({ uid: process.getuid?.(), results }) + '\n')
