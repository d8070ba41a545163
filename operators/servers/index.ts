/**
 * Guards for Node's own servers (`net`, `tls`, `http`, `https`, `http2`):
 * the same inbound pipeline as the transport's, in front of an
 * application's server.
 *
 * @example
 * import http from 'node:http'
 * import { guardServer } from 'rx-tcp/servers'
 * import { perSubnetLimit } from 'rx-tcp/operators'
 *
 * const server = http.createServer(app)
 * guardServer(server, perSubnetLimit({ max: 8 })).subscribe()
 * server.listen(8080)
 *
 * @module
 */
export { acceptSockets, type AcceptSocketsOptions } from './accept-sockets.ts'
export { guardServer } from './guard-server.ts'
