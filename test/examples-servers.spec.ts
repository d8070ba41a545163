/**
 * examples/express.ts and examples/fastify.ts run as a user runs them and
 * print what their app saw: the client each PROXY header named, the rate
 * limiter refusing that client's third request, the balancer behind.
 */
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'

function run (example: string): string[] {
  const result = spawnSync(process.execPath, ['--import', 'tsx', example], { encoding: 'utf8', timeout: 30_000 })
  expect(result.status, result.stderr).toBe(0)
  return result.stdout.trim().split('\n')
}

describe('the server examples', () => {
  it('examples/express.ts: req.ip is the client of each header, the third request of one client is refused', () => {
    const lines = run('examples/express.ts')
    expect(lines).toHaveLength(4)
    expect(lines[0]).toBe('203.0.113.7:50001 -> HTTP/1.1 200 OK {"ip":"203.0.113.7","remotePort":50001,"family":"IPv4","balancer":"127.0.0.1"}')
    expect(lines[2]).toMatch(/^203\.0\.113\.7:50003 -> HTTP\/1\.1 429 /)
    expect(lines[3]).toBe('198.51.100.4:50004 -> HTTP/1.1 200 OK {"ip":"198.51.100.4","remotePort":50004,"family":"IPv4","balancer":"127.0.0.1"}')
  }, 40_000)

  it('examples/fastify.ts: request.ip is the client of each v2 header, IPv6 in canonical form; the third request of one client is refused', () => {
    const lines = run('examples/fastify.ts')
    expect(lines).toHaveLength(4)
    expect(lines[1]).toBe('203.0.113.7:50002 -> HTTP/1.1 200 OK {"ip":"203.0.113.7","remotePort":50002,"family":"IPv4","balancer":"127.0.0.1"}')
    expect(lines[2]).toMatch(/^203\.0\.113\.7:50003 -> HTTP\/1\.1 429 /)
    expect(lines[3]).toBe('2001:db8:0:0:0:0:0:7:50004 -> HTTP/1.1 200 OK {"ip":"2001:db8::7","remotePort":50004,"family":"IPv6","balancer":"127.0.0.1"}')
  }, 40_000)
})
