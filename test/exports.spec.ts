/**
 * What each entry exports, types included, as a user's editor sees it: read
 * with the TypeScript checker from the sources `package.json` points at.
 * Issue 20 bounds `rx-tcp/operators` at 35 names and keeps implementation
 * pieces out of every entry; a new export has to fit or move.
 */
import { existsSync, readFileSync } from 'node:fs'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

/** the entries a user imports, by subpath, with the source each one's `types` is built from (`./dist/X.d.ts` from `X.ts`) */
const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, { types: string }> }
const ENTRIES = Object.fromEntries(Object.entries(manifest.exports).map(([subpath, { types }]) => [subpath, types.replace(/^\.\/dist\//, '').replace(/\.d\.ts$/, '.ts')]))

/** implementation pieces that 0.2.0 exported and no entry may export again (CHANGELOG, 0.3.0) */
const INTERNAL = ['toInboundSocket', 'serverIntake', 'boundMultiaddr', 'remoteMultiaddr', 'tcpMultiaddr', 'proxyEventKeys', 'LISTENER_EVENTS_METRIC', 'ownedSockets', 'checkOptions', 'operate', 'operatorObserver', 'FirstBytesReader']

function exportedNames (files: string[]): Map<string, string[]> {
  const program = ts.createProgram(files, {
    allowImportingTsExtensions: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true
  })
  const checker = program.getTypeChecker()
  return new Map(files.map((file) => {
    const source = program.getSourceFile(file)
    const module = source === undefined ? undefined : checker.getSymbolAtLocation(source)
    if (module === undefined) throw new Error(`${file}: not a module the checker can read`)
    return [file, checker.getExportsOfModule(module).map((symbol) => symbol.name).sort()]
  }))
}

describe('the entries of package.json', () => {
  const names = exportedNames(Object.values(ENTRIES))

  it('are the five subpaths, each with its source', () => {
    expect(Object.keys(ENTRIES).sort()).toEqual(['.', './observed-addresses', './operators', './proxy-protocol', './servers'])
    for (const [subpath, source] of Object.entries(ENTRIES)) expect(existsSync(source), `${subpath}: ${source}`).toBe(true)
  })

  it('rx-tcp/operators exports at most 35 names, types included', () => {
    const operators = names.get(ENTRIES['./operators']) ?? []
    expect(operators).toContain('upgradeCap')
    expect(operators.length, operators.join(' ')).toBeLessThanOrEqual(35)
  })

  it('no entry exports an implementation piece', () => {
    for (const [file, exported] of names) {
      expect(exported.filter((name) => INTERNAL.includes(name)), file).toEqual([])
    }
  })
})
