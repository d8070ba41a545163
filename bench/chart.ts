/** The figures of one run, as bench/run.ts writes them. */
export interface ChartInput {
  date: string
  node: string
  machine: string
  aa: boolean
  reps?: number
  subjects: { rx: string, ref: string }
  figures: ChartFigure[]
}

/** One figure's medians: rx-tcp, @libp2p/tcp and, where measured, plain sockets. */
export interface ChartFigure {
  label: string
  details: string
  unit: string
  better: 'higher' | 'lower'
  rx: number
  ref: number
  ceiling?: number
  ratio: number
  /** rx / plain sockets, where those were measured */
  ceilingRatio?: number
  /** what issue 5 asks of the figure, e.g. 'rx/ref ≥ 1.1' */
  target?: string
  met?: boolean
}

const COLORS = { rx: '#7b1fa2', ref: '#607d8b', ceiling: '#b0bec5' }
const WIDTH = 1040
const LABEL_W = 330
const BAR_W = 420
const BAR_H = 13
const BAR_GAP = 3
const ROW_PAD = 14

export function esc (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

export function num (v: number): string {
  if (!Number.isFinite(v)) return '—'
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
}

/**
 * Draws one row per figure, each with its own scale (the figures have
 * different units): a bar for rx-tcp, one for @libp2p/tcp and, where there is
 * one, one for plain node:net sockets, each labelled with its value, and the
 * ratio rx/ref on the right.
 */
export function renderChart (input: ChartInput): string {
  const parts: string[] = []
  let y = 70
  for (const f of input.figures) {
    const bars: Array<{ key: keyof typeof COLORS, value: number, name: string }> = [
      { key: 'rx', value: f.rx, name: input.subjects.rx },
      { key: 'ref', value: f.ref, name: input.subjects.ref }
    ]
    if (f.ceiling != null) bars.push({ key: 'ceiling', value: f.ceiling, name: 'node:net' })
    const max = Math.max(...bars.map((b) => Number.isFinite(b.value) ? b.value : 0), 1e-9)
    const rowH = bars.length * (BAR_H + BAR_GAP) + ROW_PAD
    parts.push(`<text x="10" y="${y + 11}" class="label">${esc(f.label)}</text>`)
    parts.push(`<text x="10" y="${y + 26}" class="small">${esc(`${f.details} · ${f.unit}, ${f.better} is better`)}</text>`)
    bars.forEach((b, i) => {
      const by = y + i * (BAR_H + BAR_GAP)
      const w = Number.isFinite(b.value) ? Math.max(1, (b.value / max) * BAR_W) : 0
      parts.push(`<rect x="${LABEL_W}" y="${by}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${COLORS[b.key]}"><title>${esc(`${b.name}: ${num(b.value)} ${f.unit}`)}</title></rect>`)
      parts.push(`<text x="${LABEL_W + w + 4}" y="${by + BAR_H - 2}" class="value">${esc(num(b.value))}</text>`)
    })
    // within 5 % is not a difference on this kind of machine: grey
    const good = f.better === 'higher' ? f.ratio >= 1 : f.ratio <= 1
    const color = Math.abs(f.ratio - 1) < 0.05 ? '#78909c' : good ? '#2e7d32' : '#c62828'
    parts.push(`<text x="${WIDTH - 10}" y="${y + 11}" class="ratio" fill="${color}" text-anchor="end">${esc(`×${num(f.ratio)}`)}</text>`)
    const notes = [
      f.ceilingRatio != null ? `rx/net ×${num(f.ceilingRatio)}` : '',
      f.target != null ? `target ${f.target}: ${f.met === true ? 'met' : 'not met'}` : ''
    ].filter((t) => t !== '').join(' · ')
    if (notes !== '') parts.push(`<text x="${WIDTH - 10}" y="${y + 26}" class="small" text-anchor="end">${esc(notes)}</text>`)
    parts.push(`<line x1="10" x2="${WIDTH - 10}" y1="${y + rowH - 6}" y2="${y + rowH - 6}" stroke="#eceff1"/>`)
    y += rowH
  }
  const legend = [
    [COLORS.rx, input.subjects.rx],
    [COLORS.ref, input.subjects.ref],
    [COLORS.ceiling, 'plain node:net sockets']
  ].map(([color, name], i) => `<rect x="${10 + i * 220}" y="44" width="12" height="12" fill="${color}"/><text x="${28 + i * 220}" y="54" class="small">${esc(name)}</text>`).join('')
  const reps = input.reps != null ? ` of ${input.reps} alternating runs` : ''
  const title = `${input.subjects.rx} vs ${input.subjects.ref}${input.aa ? ' (A/A)' : ''} — medians${reps}, ratio rx/ref on the right`
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y + 10}" viewBox="0 0 ${WIDTH} ${y + 10}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">`,
    '<style>.label{font-size:13px;fill:#263238}.small{font-size:11px;fill:#546e7a}.value{font-size:11px;fill:#263238}.ratio{font-size:14px;font-weight:600}</style>',
    '<rect width="100%" height="100%" fill="#ffffff"/>',
    `<text x="10" y="20" class="label" font-weight="600">${esc(title)}</text>`,
    `<text x="10" y="36" class="small">${esc(`Node ${input.node}, ${input.machine}, ${input.date.slice(0, 16).replace('T', ' ')} UTC`)}</text>`,
    legend,
    ...parts,
    '</svg>',
    ''
  ].join('\n')
}
