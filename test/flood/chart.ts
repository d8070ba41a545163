/** The flood's chart, drawn from its JSON: per attack, good dials kept and near ping p99 against the attack rate, one line per victim. */
import type { FloodResult } from './report.ts'

const COLORS = ['#7b1fa2', '#ab47bc', '#607d8b', '#26a69a', '#ef6c00', '#1e88e5']
const esc = (t: string): string => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export function drawFloodChart (r: FloodResult): string {
  const attacks = Object.keys(r.highest)
  const victims = r.victims.map((v) => v.name)
  const rates = [...new Set(r.steps.map((s) => s.rate))].sort((a, b) => a - b)
  const PW = 420
  const PH = 170
  const ML = 60
  const rowH = PH + 70
  const width = ML + 2 * (PW + ML) + 20
  const height = 60 + attacks.length * rowH + 20 * victims.length
  const x = (rate: number): number => ML + (rates.indexOf(rate) / Math.max(1, rates.length - 1)) * PW
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${ML}" y="20" font-size="14">npm run flood, ${esc(r.date.slice(0, 16))}Z, seed ${r.seed}, load ${r.loadavg[0]?.[0] ?? '?'}: good peers under a connection flood</text>`]
  attacks.forEach((attack, ai) => {
    const top = 40 + ai * rowH
    const maxPing = Math.max(1, ...r.steps.filter((s) => s.attack === attack).map((s) => s.good.pingNear.p99))
    const panels = [
      { title: `${attack}: good dials connected (%)`, left: 0, y: (v: number) => top + 20 + PH - v / 100 * PH, value: (s: FloodResult['steps'][number]) => s.good.dialPct, max: 100 },
      { title: `${attack}: near ping p99 (ms)`, left: PW + ML, y: (v: number) => top + 20 + PH - v / maxPing * PH, value: (s: FloodResult['steps'][number]) => s.good.pingNear.p99, max: maxPing }
    ]
    for (const p of panels) {
      out.push(`<text x="${p.left + ML}" y="${top + 12}" font-size="12">${esc(p.title)}</text>`)
      out.push(`<rect x="${p.left + ML}" y="${top + 20}" width="${PW}" height="${PH}" fill="none" stroke="#ccc"/>`)
      for (const rate of rates) out.push(`<text x="${p.left + x(rate)}" y="${top + PH + 34}" text-anchor="middle">${rate === 0 ? 'quiet' : `${rate}/s`}</text>`)
      for (const frac of [0, 0.5, 1]) out.push(`<text x="${p.left + ML - 4}" y="${p.y(frac * p.max) + 4}" text-anchor="end">${Math.round(frac * p.max)}</text>`)
      victims.forEach((victim, vi) => {
        const pts = r.steps.filter((s) => s.attack === attack && s.victim === victim).sort((a, b) => a.rate - b.rate)
        if (pts.length === 0) return
        const color = COLORS[vi % COLORS.length]
        out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((s) => `${p.left + x(s.rate)},${p.y(p.value(s))}`).join(' ')}"/>`)
        for (const s of pts) out.push(`<circle cx="${p.left + x(s.rate)}" cy="${p.y(p.value(s))}" r="3" fill="${s.survived ? color : 'white'}" stroke="${color}"/>`)
      })
    }
  })
  const legendTop = 40 + attacks.length * rowH
  victims.forEach((victim, vi) => {
    const highest = attacks.map((a) => `${a} ${r.highest[a][victim]}/s`).join(', ')
    out.push(`<rect x="${ML}" y="${legendTop + vi * 18}" width="12" height="12" fill="${COLORS[vi % COLORS.length]}"/>`)
    out.push(`<text x="${ML + 18}" y="${legendTop + vi * 18 + 10}">${esc(`${victim}: ${r.victims[vi].description}; highest rate kept: ${highest}`)}</text>`)
  })
  out.push(`<text x="${ML}" y="${height - 6}" fill="#666">filled: the step kept ≥ 99 % good dials and near ping p99 within 2× of quiet; hollow: it did not</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}
