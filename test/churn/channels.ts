/**
 * The `BroadcastChannel`s this process opened that cannot be unref'd.
 *
 * libp2p's peer store takes its per-peer locks from mortice 3.3.1, whose
 * Node entry opens one module-level `BroadcastChannel` at the first lock
 * (for locks shared with cluster workers and worker threads), never closes
 * it, and calls `channel.unref?.()`. Node's and Bun's channels have
 * `unref()`; Deno's has not, so on Deno that one channel keeps the event
 * loop alive for good: after every node has stopped, the process (or the
 * worker thread) never exits by itself, on either transport. Import this
 * module before libp2p to see those channels; `closeHeldChannels()` closes
 * them once every node has stopped, which is what a Deno user has to do
 * too (or end with `Deno.exit()`).
 */
const held = new Set<BroadcastChannel>()
const Native = globalThis.BroadcastChannel

if (Native != null && typeof (Native.prototype as { unref?: unknown }).unref !== 'function') {
  globalThis.BroadcastChannel = class HeldBroadcastChannel extends Native {
    constructor (name: string) {
      super(name)
      held.add(this)
    }

    override close (): void {
      held.delete(this)
      super.close()
    }
  }
}

/** how many channels that cannot be unref'd are open now */
export function heldChannels (): number {
  return held.size
}

/** closes every open channel that cannot be unref'd; returns how many it closed */
export function closeHeldChannels (): number {
  const n = held.size
  for (const channel of [...held]) channel.close()
  return n
}
