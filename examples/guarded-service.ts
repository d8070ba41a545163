// Run with: npx tsx examples/guarded-service.ts
//
// A plain TCP echo service (no libp2p) guarded by an inbound pipeline built
// from rx-tcp's operators. Peers must say "hello" within 300ms (the service's
// "upgrade"), then everything they send is echoed. The program then connects
// from several loopback source addresses, some allowed, some not, prints what
// was accepted and refused and why, and exits.
import net from 'node:net'
import { mergeMap, Observable } from 'rxjs'
import { acceptSockets } from '../operators/servers/index.ts'
import { denyCidr, metricsTap, perSubnetLimit, perSubnetRateLimit, upgradeCap, upgradeDeadline } from '../operators/index.ts'
import type { InboundSocket } from '../operators/index.ts'
import type { MetricGroup } from '@libp2p/interface'

/** listener events, counted the way libp2p's metrics would count them */
const counts = new Map<string, number>()
const events = {
  increment: (values: Record<string, number | true>) => {
    for (const key of Object.keys(values)) counts.set(key, (counts.get(key) ?? 0) + 1)
  }
} as unknown as MetricGroup

/** the service's handshake: the peer's first line must be "hello"; then echo */
function session$ (inbound: InboundSocket): Observable<string> {
  return new Observable<string>((subscriber) => {
    const { socket } = inbound
    socket.setEncoding('utf8')
    let greeted = false
    const onData = (text: string): void => {
      if (!greeted) {
        greeted = text.trim() === 'hello'
        if (!greeted) {
          inbound.reject('bad-handshake')
          return
        }
        socket.write('welcome\n')
        subscriber.next(inbound.remoteAddr.toString())
        return
      }
      socket.write(text)
    }
    const onClose = (): void => { subscriber.complete() }
    socket.on('data', onData)
    socket.once('close', onClose)
    return () => {
      socket.off('data', onData)
      socket.off('close', onClose)
      socket.destroy()
    }
  })
}

const server = net.createServer()
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address() as net.AddressInfo
console.log(`echo service on 127.0.0.1:${port}`)

const tapped = metricsTap({ events })
const cap = upgradeCap({ max: 8 })
const deadline = upgradeDeadline({ ms: 300 })

const service = acceptSockets(server, {
  onReject: ({ remoteAddr }, reason) => { console.log(`  server refused ${remoteAddr.toString()}: ${reason}`) }
}).pipe(
  tapped.inbound,
  denyCidr(['127.0.0.66/32']),
  perSubnetRateLimit({ rate: 2, burst: 3 }),
  perSubnetLimit({ max: 2 }),
  cap.inbound,
  mergeMap((inbound) => session$(inbound).pipe(deadline(inbound), cap.lifetime(inbound), tapped.lifetime(inbound)))
).subscribe((peer) => { console.log(`  server upgraded ${peer}`) })

/** one client: says hello (unless silent), sends "ping", reports what came back */
async function client (from: string, options: { silent?: boolean, hold?: boolean } = {}): Promise<{ result: string, socket: net.Socket }> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress: from })
  socket.setEncoding('utf8')
  socket.on('error', () => {})
  const result = await new Promise<string>((resolve) => {
    let received = ''
    const giveUp = setTimeout(() => { resolve('no answer') }, 2_000)
    socket.on('connect', () => { if (options.silent !== true) socket.write('hello\n') })
    socket.on('data', (text: string) => {
      received += text
      if (received === 'welcome\n') socket.write('ping\n')
      if (received.endsWith('ping\n')) {
        clearTimeout(giveUp)
        resolve(`accepted, echoed ${JSON.stringify('ping')}`)
      }
    })
    socket.once('close', () => {
      clearTimeout(giveUp)
      resolve(received === '' ? 'refused' : `closed after ${JSON.stringify(received)}`)
    })
  })
  console.log(`client ${from}${options.silent === true ? ' (silent)' : ''}: ${result}`)
  if (options.hold !== true) {
    await closeClient(socket)
  }
  return { result, socket }
}

async function closeClient (socket: net.Socket): Promise<void> {
  if (!socket.closed) {
    await new Promise((resolve) => { socket.once('close', resolve); socket.destroy() })
  }
}

console.log('\nan allowed peer:')
await client('127.0.0.2')
console.log('\na denied peer (127.0.0.66/32):')
await client('127.0.0.66')
console.log('\nthree peers from 127.0.0.3 held open together, two allowed per subnet:')
const held = [await client('127.0.0.3', { hold: true }), await client('127.0.0.3', { hold: true }), await client('127.0.0.3', { hold: true })]
await Promise.all(held.map(async ({ socket }) => closeClient(socket)))
console.log('\nfive quick connections from 127.0.0.4, a burst of 3 allowed:')
for (let i = 0; i < 5; i++) await client('127.0.0.4')
console.log('\na peer that never says hello (deadline 300ms):')
await client('127.0.0.5', { silent: true })

service.unsubscribe()
await new Promise((resolve) => server.close(resolve))
console.log('\nlibp2p_tcp_listener_events_total:')
for (const [key, value] of counts) console.log(`  ${key}: ${value}`)
