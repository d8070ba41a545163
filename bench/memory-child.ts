// Child process of the memory figure: measures one transport in a process of its own.
// args: rx|ref, number of idle connections, 'aa' for an A/A run, rx-tcp entry file or '', reference entry file or ''
import { measureMemory } from './figures/connections.ts'
import { loadSubjects } from './subjects.ts'

const [key, idle, aa, rxEntry, refEntry] = process.argv.slice(2)
try {
  const subjects = await loadSubjects(aa === 'aa', rxEntry === '' ? undefined : rxEntry, refEntry === '' ? undefined : refEntry)
  const subject = key === 'rx' ? subjects.rx : subjects.ref
  const sample = await measureMemory(subject, Number(idle))
  process.send?.(sample)
} catch (err) {
  process.send?.({ error: (err as Error).stack ?? String(err) })
}
process.disconnect()
