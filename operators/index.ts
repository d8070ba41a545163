/**
 * Composable RxJS operators for the inbound path of a TCP listener: the
 * transport's `inbound` and `lifetime` hooks, or an application's own
 * `net.Server` through `guardServer` and `acceptSockets` (`rx-tcp/servers`).
 *
 * @example
 * import { pipe } from 'rxjs'
 * import { tcp } from 'rx-tcp'
 * import { denyCidr, perSubnetLimit, upgradeCap } from 'rx-tcp/operators'
 *
 * const cap = upgradeCap({ max: 32 })
 * tcp({ inbound: pipe(denyCidr(['203.0.113.0/24']), perSubnetLimit({ max: 8 }), cap.inbound), lifetime: cap.lifetime })
 */
export type { InboundSocket, Intake, InboundOperator, LifetimeOperator, LifetimeHook, RejectListener } from '../src/core/types.ts'
export type { SubnetOptions } from '../src/core/subnets.ts'

export type { CidrOptions } from './internal/cidr.ts'
export { allowCidr, type AllowCidrOptions } from './allow-cidr.ts'
export { denyCidr, type DenyCidrOptions } from './deny-cidr.ts'
export { perSubnetLimit, type PerSubnetLimitOptions } from './per-subnet-limit.ts'
export { perSubnetRateLimit, type PerSubnetRateLimitOptions } from './per-subnet-rate-limit.ts'
export type { DryRunListener, DryRunOptions } from './internal/dry-run.ts'
export { maxConnections, type MaxConnectionsOptions } from './max-connections.ts'
export { pauseOnMaxConnections, type PauseOnMaxConnectionsOptions } from './pause-on-max-connections.ts'
export { upgradeCap, type UpgradeCap, type UpgradeCapOptions } from './upgrade-cap.ts'
export { upgradeDeadline, type UpgradeDeadlineOptions } from './upgrade-deadline.ts'
export { openingBytes, type OpeningBytesOptions } from './opening-bytes.ts'
export { shedStalled, type ShedStalled, type ShedStalledOptions } from './shed-stalled.ts'
export { metricsTap, type MetricsTap, type MetricsTapOptions } from './metrics-tap.ts'
