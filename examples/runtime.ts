// Not an example of its own: what the examples need to run alike on Node, Bun and
// Deno (docs/runtimes.md). Each need is detected, never read off the runtime's name.
import crypto from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { pureJsCrypto } from '@chainsafe/libp2p-noise/crypto'

/**
 * Whether `node:crypto` can make a chacha20-poly1305 cipher. Noise's default
 * crypto uses it for large messages; Bun's `node:crypto` lacks it and fails
 * with "Unknown cipher" once a message is big enough.
 */
export function hasChaCha20Poly1305 (): boolean {
  try {
    crypto.createCipheriv('chacha20-poly1305', Buffer.alloc(32), Buffer.alloc(12), { authTagLength: 16 })
    return true
  } catch {
    return false
  }
}

/** `noise()`, with its pure-JS crypto where `node:crypto` has no chacha20-poly1305 (Bun) */
export function runtimeNoise (): ReturnType<typeof noise> {
  return hasChaCha20Poly1305() ? noise() : noise({ crypto: pureJsCrypto })
}

/**
 * Whether this runtime lists its TCP handles in `process.getActiveResourcesInfo()`.
 * Call it while a TCP server of the program listens: Node and Deno list it as
 * `TCPServerWrap`; Bun's list is always empty, so a count of handles left there
 * would say 0 whatever is open.
 */
export function listsTcpHandles (): boolean {
  return process.getActiveResourcesInfo().includes('TCPServerWrap')
}

/**
 * Ends the program where the stack would keep it alive once every node has
 * stopped: `@libp2p/peer-store` takes its locks from `mortice`, which opens a
 * `BroadcastChannel` and unrefs it; Deno's `BroadcastChannel` has no `unref()`,
 * so there the channel holds the process open for ever. Elsewhere this does
 * nothing and the program exits by itself, as it should.
 */
export function exitIfTheStackHoldsOn (): void {
  const channel = (globalThis as { BroadcastChannel?: { prototype: { unref?: unknown } } }).BroadcastChannel
  if (channel != null && typeof channel.prototype.unref !== 'function') {
    console.log("(exiting explicitly: this runtime's BroadcastChannel cannot be unref'd, and the one @libp2p/peer-store's locks opened would keep the process alive)")
    process.exit()
  }
}
