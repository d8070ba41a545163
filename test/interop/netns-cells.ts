// ip netns exec <js-ns> node --import tsx test/interop/netns-cells.ts <plan.json>
// The JS side of the namespace cells of `npm run interop`: run inside the JS
// namespace, it runs each planned cell (the peers in their own namespace)
// and prints one JSON line per cell result, then {"event":"end"}.
import { readFileSync } from 'node:fs'
import { runCell } from './cells.ts'
import { SCENARIOS } from './scenarios.ts'
import type { CellSpec, Placement } from './cells.ts'
import type { PeerBinary } from './peers.ts'

interface Plan {
  cells: CellSpec[]
  binaries: Record<string, PeerBinary>
  place: Placement
}

const plan = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Plan
for (const spec of plan.cells) {
  const result = await runCell(spec, SCENARIOS[spec.scenario], plan.binaries[spec.peer], plan.place)
  process.stdout.write(JSON.stringify({ event: 'cell', result }) + '\n')
}
process.stdout.write(JSON.stringify({ event: 'end' }) + '\n')
process.exit(0)
