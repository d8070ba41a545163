import { asyncScheduler } from 'rxjs'
import { admit } from './internal/admit.ts'
import { SUBNET_RULES, subnetKeyer } from '../src/core/subnets.ts'
import { checkOptions, integer, number, required, scheduler as schedulerLike, text } from '../src/core/check.ts'
import { DRY_RUN_RULE } from './internal/dry-run.ts'
import type { SubnetOptions } from '../src/core/subnets.ts'
import type { DryRunOptions } from './internal/dry-run.ts'
import type { InboundSocket } from '../src/core/types.ts'
import type { MonoTypeOperatorFunction, SchedulerLike } from 'rxjs'

export interface PerSubnetRateLimitOptions extends SubnetOptions, DryRunOptions {
  /** sockets per second a subnet earns back */
  rate: number
  /** how many sockets a subnet may open in a burst (the bucket's size) */
  burst: number
  /** the rejection reason (default `'subnet-rate-limit'`) */
  reason?: string
  /** the clock (default `asyncScheduler`) */
  scheduler?: SchedulerLike
  /**
   * the most subnets whose buckets are kept (default 16384, as many states
   * as nginx keeps in a 1 MB `limit_req` zone); beyond it the subnet whose
   * bucket was touched longest ago is forgotten, and starts again full
   */
  maxSubnets?: number
}

/** Buckets kept before full ones are swept away. */
const SWEEP_ABOVE = 1024

/** The buckets kept at most when no `maxSubnets` is given. */
export const DEFAULT_MAX_SUBNETS = 16_384

interface Bucket {
  tokens: number
  at: number
}

/**
 * Lets a subnet open up to `burst` sockets at once and `rate` per second
 * after that (a token bucket per subnet), and rejects the excess.
 *
 *   sockets:              a b c d ---- 400ms ---- e     (all from one subnet)
 *   rate 5/s, burst 2:    a b ------- 400ms ---- e      (c, d rejected, 'subnet-rate-limit')
 *
 * Subnets are /32 for IPv4 and /56 for IPv6 unless configured; an IPv4
 * client seen through a dual-stack listener (`::ffff:a.b.c.d`) is counted
 * as the IPv4 address it is. Sockets without an IP address are not limited.
 * State is bounded: full buckets are forgotten, and at most `maxSubnets`
 * are kept (the least recently touched goes first), so a flood from many
 * addresses costs a fixed amount of memory.
 *
 * @example
 * tcp({ inbound: pipe(perSubnetRateLimit({ rate: 10, burst: 20 })) })
 *
 * @param options - rate, burst, subnet sizes, rejection reason and clock
 * @returns an operator that rejects sockets beyond their subnet's rate
 */
export function perSubnetRateLimit (options: PerSubnetRateLimitOptions): MonoTypeOperatorFunction<InboundSocket> {
  checkOptions('perSubnetRateLimit', options, {
    ...SUBNET_RULES,
    rate: required(number({ above: 0 })),
    burst: required(number({ min: 1 })),
    reason: text(),
    scheduler: schedulerLike(),
    maxSubnets: integer({ min: 1 }),
    dryRun: DRY_RUN_RULE
  })
  const { rate, burst, reason = 'subnet-rate-limit', scheduler = asyncScheduler, maxSubnets = DEFAULT_MAX_SUBNETS } = options
  const subnetOf = subnetKeyer(options)
  const refill = (bucket: Bucket, now: number): number =>
    Math.min(burst, bucket.tokens + (now - bucket.at) * rate / 1000)

  return admit(() => {
    const buckets = new Map<string, Bucket>()
    let sweepAbove = SWEEP_ABOVE
    // forget the subnets whose bucket is full again; sweep less often while many are not
    const sweep = (now: number): void => {
      for (const [subnet, bucket] of buckets) {
        if (refill(bucket, now) >= burst) {
          buckets.delete(subnet)
        }
      }
      sweepAbove = Math.max(SWEEP_ABOVE, buckets.size * 2)
    }
    // the map's order is that of the last touch: its first key is the least recently used
    const evictOldest = (): void => {
      const oldest = buckets.keys().next()
      if (oldest.done !== true) {
        buckets.delete(oldest.value)
      }
    }
    return {
      judge: ({ remoteAddr }) => {
        const subnet = subnetOf(remoteAddr)
        if (subnet === undefined) {
          return undefined
        }
        const now = scheduler.now()
        if (buckets.size > sweepAbove) {
          sweep(now)
        }
        const bucket = buckets.get(subnet)
        const tokens = bucket === undefined ? burst : refill(bucket, now)
        if (tokens < 1) {
          return reason
        }
        if (bucket === undefined) {
          if (buckets.size >= maxSubnets) {
            evictOldest()
          }
          buckets.set(subnet, { tokens: tokens - 1, at: now })
        } else {
          buckets.delete(subnet)
          bucket.tokens = tokens - 1
          bucket.at = now
          buckets.set(subnet, bucket)
        }
        return undefined
      }
    }
  }, options.dryRun)
}
