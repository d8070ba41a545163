// Run with: npx tsx examples/guarded-http.ts
//
// Node's own http.Server behind rx-tcp's operators (no libp2p): guardServer
// hands a socket to the server only once denyCidr, perSubnetRateLimit and
// upgradeCap have let it through, so a refused socket never reaches the HTTP
// parser or the handler. Clients then call from several loopback addresses:
// one from a denied network, one in a hurry, and a crowd at a slow page.
// It prints what was served and what was refused and why, and exits.
import http from 'node:http'
import { pipe } from 'rxjs'
import { denyCidr, perSubnetRateLimit, upgradeCap } from '../operators/index.ts'
import { guardServer } from '../operators/servers/index.ts'
import type { AddressInfo } from 'node:net'

const refusals = new Map<string, number>()
let handled = 0

const server = http.createServer((req, res) => {
  handled++
  const reply = (): void => { res.end(`hello ${req.socket.remoteAddress ?? '?'}`) }
  // the slow page holds its connection a while, to show the cap on open connections
  if (req.url === '/slow') setTimeout(reply, 300)
  else reply()
})

const guard = guardServer(server, pipe(
  denyCidr(['127.0.0.66/32']),
  perSubnetRateLimit({ rate: 1, burst: 3 }),
  // no lifetime half: a socket holds its slot until it closes
  upgradeCap({ max: 2, policy: 'drop' }).inbound
), {
  onReject: ({ remoteAddr }, reason) => {
    refusals.set(reason, (refusals.get(reason) ?? 0) + 1)
    console.log(`  server refused ${remoteAddr.toString()}: ${reason}`)
  }
}).subscribe()

await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address() as AddressInfo
console.log(`http server on 127.0.0.1:${port}: denyCidr 127.0.0.66/32, perSubnetRateLimit 1/s burst 3, upgradeCap 2 (drop)`)

/** one GET on a connection of its own from `from`; what came back, or how it failed */
async function get (from: string, path = '/'): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, localAddress: from, agent: false, timeout: 3_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => { resolve(`${res.statusCode ?? '?'} ${body}`) })
    })
    req.on('timeout', () => { req.destroy(new Error('no answer')) })
    req.on('error', (err: NodeJS.ErrnoException) => { resolve(`refused (${err.code ?? err.message})`) })
  })
}

let served = 0
const show = (from: string, path: string, result: string): void => {
  if (!result.startsWith('refused')) served++
  console.log(`  ${from} GET ${path} -> ${result}`)
}

console.log('\na client from a denied network:')
show('127.0.0.66', '/', await get('127.0.0.66'))

console.log('\na client in a hurry (5 requests in a row from 127.0.0.2, burst 3):')
for (let i = 0; i < 5; i++) {
  show('127.0.0.2', '/', await get('127.0.0.2'))
}

console.log('\na crowd at the slow page (4 clients at once, 2 connections at a time):')
const crowd = ['127.0.0.10', '127.0.0.11', '127.0.0.12', '127.0.0.13']
const results = await Promise.all(crowd.map(async (from) => get(from, '/slow')))
crowd.forEach((from, i) => { show(from, '/slow', results[i]) })

guard.unsubscribe()
await new Promise((resolve) => server.close(resolve))
const refused = [...refusals].map(([reason, n]) => `${reason} ${n}`).join(', ')
console.log(`\nserved ${served} requests (the handler ran ${handled} times), refused ${[...refusals.values()].reduce((a, b) => a + b, 0)} sockets: ${refused}`)
