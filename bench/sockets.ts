import { readFileSync, readdirSync, readlinkSync } from 'node:fs'

/**
 * How many TCP connections to local `port` this process has accepted: the
 * established sockets on that port in /proc/net/tcp{,6} whose inode is one of
 * this process's file descriptors. The kernel completes handshakes before
 * accept(), so the socket table alone would count the backlog too.
 */
export function acceptedOn (port: number): number {
  const own = new Set<string>()
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const link = readlinkSync(`/proc/self/fd/${fd}`)
      if (link.startsWith('socket:[')) own.add(link.slice(8, -1))
    } catch {
      // closed between readdir and readlink
    }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  let count = 0
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try { text = readFileSync(table, 'utf8') } catch { continue }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      if (cols.length < 10) continue
      // cols: sl local rem st tx:rx tr:when retrnsmt uid timeout inode
      if (cols[1].endsWith(`:${hexPort}`) && cols[3] === '01' && own.has(cols[9])) count++
    }
  }
  return count
}
