/**
 * An SVG of a port-reuse run, drawn from its JSON: one row per case, the
 * share of raw dials from the listen port that connected at once (green) or
 * were refused with the 4-tuple taken (red), and what rx-tcp did meanwhile.
 */
import { esc } from '../../bench/chart.ts'

interface Wait { seconds?: number, codes: string[] }
interface RxDial { ok: boolean, fromListenPort: boolean, reuseFallback: number }
export interface PortReuseRun {
  date: string
  node: string
  kernel: string
  trials: number
  cases: Array<{ name: string, wait?: Wait, rx?: RxDial, attempts?: unknown[] }>
}

/** raw dials of one case that connected at once, of how many, and a note */
function outcome (c: PortReuseRun['cases'][number]): { atOnce: number, of: number, note: string } {
  const rx = (r?: RxDial): string => r == null ? '' : `; rx-tcp from ${r.fromListenPort ? 'the listen port' : `an ephemeral port (reuse_fallback +${r.reuseFallback})`}`
  if (c.wait != null) {
    const atOnce = c.wait.codes.length === 0 ? 1 : 0
    return { atOnce, of: 1, note: `${atOnce === 1 ? 'at once' : `after ${c.wait.seconds?.toFixed(1) ?? '?'} s of ${c.wait.codes.join(',')}`}${rx(c.rx)}` }
  }
  const attempts = (c.attempts ?? []) as Array<{ ok?: boolean, codes?: string[], raw?: { ok: boolean }, rx?: RxDial }>
  const ok = attempts.filter(a => a.ok ?? a.raw?.ok ?? a.codes?.length === 0).length
  const fell = attempts.filter(a => a.rx != null && !a.rx.fromListenPort && a.rx.ok).length
  return { atOnce: ok, of: attempts.length, note: `${ok}/${attempts.length} at once${fell > 0 ? `; rx-tcp ${fell}/${attempts.length} from an ephemeral port` : ''}` }
}

/** the chart as SVG text */
export function portReuseChart (run: PortReuseRun): string {
  const rows = run.cases.map((c, i) => {
    const { atOnce, of, note } = outcome(c)
    const y = 50 + i * 26
    const green = of > 0 ? Math.round((atOnce / of) * 240) : 0
    return `<text x="10" y="${y + 12}" font-size="12">${esc(c.name)}</text>` +
      `<rect x="200" y="${y}" width="${green}" height="16" fill="#2e7d32"/>` +
      `<rect x="${200 + green}" y="${y}" width="${240 - green}" height="16" fill="#c62828"/>` +
      `<text x="450" y="${y + 12}" font-size="12">${esc(note)}</text>`
  }).join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="900" height="${80 + run.cases.length * 26}" font-family="sans-serif">
<rect width="900" height="${80 + run.cases.length * 26}" fill="#fff"/>
<text x="10" y="22" font-size="14">port-reuse ${esc(run.date)}: a dial again from the listen port, ${run.trials} trials a case, node ${esc(run.node)}, Linux ${esc(run.kernel)}</text>
<text x="200" y="42" font-size="11">green: raw dials from the port that connected at once; red: refused (EADDRNOTAVAIL)</text>
${rows}
</svg>
`
}
