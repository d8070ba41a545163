/**
 * The runtime matrix as an SVG grid, drawn from the JSON the matrix writes:
 * one row per runtime, one column per check, each cell green (passed) or red
 * (failed) with its test count and duration.
 */
import { esc } from '../../bench/chart.ts'
import type { MatrixResult } from './matrix.ts'

const CELL_W = 150
const CELL_H = 44
const LEFT = 130
const TOP = 56

/** The SVG document of `result` */
export function matrixSvg (result: MatrixResult): string {
  const width = LEFT + result.checks.length * CELL_W + 10
  const height = TOP + result.runtimes.length * CELL_H + 30
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">rx-tcp runtime matrix: ${result.totals.cells - result.totals.cellsFailed}/${result.totals.cells} cells pass</text>`,
    `<text x="10" y="38" fill="#555">${esc(result.date)}, seed ${result.seed}, ${result.chaosRounds} chaos rounds</text>`
  ]
  result.checks.forEach((check, i) => {
    parts.push(`<text x="${LEFT + i * CELL_W + CELL_W / 2}" y="${TOP - 4}" text-anchor="middle" font-weight="bold">${esc(check)}</text>`)
  })
  result.runtimes.forEach((rt, row) => {
    const y = TOP + row * CELL_H
    parts.push(`<text x="10" y="${y + CELL_H / 2 + 4}" font-weight="bold">${esc(`${rt.runtime} ${rt.version}`)}</text>`)
    result.checks.forEach((check, col) => {
      const cell = result.cells.find(c => c.runtime === rt.runtime && c.check === check)
      const x = LEFT + col * CELL_W
      const fill = cell == null ? '#eee' : cell.ok ? '#cdebd3' : '#f5c6c6'
      parts.push(`<rect x="${x + 2}" y="${y + 2}" width="${CELL_W - 4}" height="${CELL_H - 4}" rx="4" fill="${fill}"/>`)
      const label = cell == null ? 'not run' : `${cell.ok ? 'PASS' : 'FAIL'} ${cell.passed}/${cell.passed + cell.failed}`
      parts.push(`<text x="${x + CELL_W / 2}" y="${y + 19}" text-anchor="middle">${esc(label)}</text>`)
      if (cell != null) parts.push(`<text x="${x + CELL_W / 2}" y="${y + 34}" text-anchor="middle" fill="#555">${(cell.durationMs / 1000).toFixed(1)} s</text>`)
    })
  })
  parts.push(`<text x="10" y="${height - 10}" fill="#555">total ${result.totals.passed} tests passed, ${result.totals.failed} failed, ${(result.totals.durationMs / 1000).toFixed(0)} s</text>`)
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
