// npm run size -- --help for the options
// The lines of code an entry's bundle takes from this project: esbuild
// bundles the entry with every package external, and each of the project's
// own files in the bundle is counted without its blank and comment lines.
import { readFileSync, writeFileSync } from 'node:fs'
import { relative } from 'node:path'
import { build } from 'esbuild'
import { parseCli } from '../test/fixtures/cli.ts'
import { REPO_ROOT, recordHelp, resultFile, shown, sibling } from '../test/fixtures/results.ts'

const args = parseCli({
  tool: 'size',
  summary: 'Lines of code of an entry\'s bundle (esbuild, packages external): the project\'s own files only, blank and comment\nlines not counted, per file and per layer. Writes .results/size/latest.json and its chart unless --record or --out.',
  options: {
    entry: { type: 'string', placeholder: 'FILE', default: 'src/index.ts', description: 'the entry to bundle, from the repository root' },
    max: { type: 'integer', min: 1, default: 1200, description: 'the most lines of code that PASS' },
    record: { type: 'string', placeholder: 'NAME', description: recordHelp('size', 'bench/results') },
    out: { type: 'string', placeholder: 'FILE', description: 'write the JSON to FILE (the chart next to it)' }
  },
  examples: ['npm run size', 'npm run size -- --entry operators/index.ts --max 2000', 'npm run size -- --record size-2026-12-07']
})

/** the layers of docs/architecture.md, most specific folder first */
const LAYERS: ReadonlyArray<readonly [string, string]> = [
  ['src/core/', 'core'],
  ['src/', 'transport'],
  ['operators/proxy-protocol/', 'proxy-protocol'],
  ['operators/servers/', 'servers'],
  ['operators/', 'operators']
]

/** lines that are neither blank nor comment: block comments dropped first, then `//` lines */
export function codeLines (source: string): number {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('//')).length
}

process.chdir(REPO_ROOT)
console.error(`size: bundling ${args.entry} (esbuild, packages external)`)
const bundle = await build({ entryPoints: [args.entry], bundle: true, packages: 'external', platform: 'node', format: 'esm', write: false, metafile: true, outfile: 'size.js', logLevel: 'silent' })
  .catch((err: Error) => {
    console.log(`size: FAIL ${args.entry} does not bundle: ${err.message.split('\n')[0]}`)
    process.exit(1)
  })

const files = Object.keys(bundle.metafile.inputs)
  .filter((file) => !file.includes('node_modules'))
  .map((file) => ({ file: relative('.', file), lines: codeLines(readFileSync(file, 'utf8')) }))
  .sort((a, b) => b.lines - a.lines)
const total = files.reduce((sum, f) => sum + f.lines, 0)
const layers: Record<string, number> = {}
for (const { file, lines } of files) {
  const layer = LAYERS.find(([folder]) => file.startsWith(folder))?.[1] ?? 'other'
  layers[layer] = (layers[layer] ?? 0) + lines
}

for (const { file, lines } of files) console.log(`${String(lines).padStart(5)}  ${file}`)
console.log(`${String(total).padStart(5)}  total, ${files.length} files`)
console.log(`layers: ${Object.entries(layers).map(([layer, lines]) => `${layer} ${lines}`).join(', ')}`)

const json = resultFile({ tool: 'size', committed: 'bench/results', name: 'latest', record: args.record, out: args.out })
writeFileSync(json, JSON.stringify({ entry: args.entry, max: args.max, total, layers, files, date: new Date().toISOString() }, null, 2) + '\n')
const svg = sibling(json, '.svg')
writeFileSync(svg, chart(args.entry, files, total, args.max))
console.log(`size: ${shown(json)} and its chart ${shown(svg)}`)
console.log(`size: ${total <= args.max ? 'PASS' : 'FAIL'} ${args.entry}: ${total} lines of code in ${files.length} files (at most ${args.max})`)

/** one bar per file, longest first, with the limit as a line */
function chart (entry: string, rows: Array<{ file: string, lines: number }>, sum: number, max: number): string {
  const width = 720
  const left = 300
  const scale = (width - left - 60) / Math.max(...rows.map((r) => r.lines), 1)
  const bars = rows.map((r, i) => {
    const y = 40 + i * 18
    return `<text x="${left - 6}" y="${y + 12}" text-anchor="end">${r.file}</text><rect x="${left}" y="${y}" width="${(r.lines * scale).toFixed(1)}" height="14" fill="#4a7ab0"/><text x="${left + r.lines * scale + 4}" y="${y + 12}">${r.lines}</text>`
  })
  const height = 60 + rows.length * 18
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">` +
    `<text x="10" y="20" font-size="13">${entry}: ${sum} lines of code in ${rows.length} files (limit ${max})</text>${bars.join('')}</svg>\n`
}
