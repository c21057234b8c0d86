export { startEmulator, type CacheLogEntry, type RunningEmulator } from './server.js';
export {
  loadEmulatorConfig,
  parseEmulatorConfig,
  type BatchConfig,
  type CachingConfig,
  type EmulatorConfig,
  type EmulatorConfigInput,
  type LatencyRange,
  type ModelBehaviour,
  type ProjectConfig,
  type QuotaLimits,
  type SharedCapacityConfig,
} from './emulator-config.js';
export type { EmulatorCounters, EmulatorStats, ProjectStats } from './emulator-stats.js';
export { DEFAULT_SHARED_IN_FLIGHT, type CapacityLaneStats } from './shared-capacity.js';
export { countTextTokens } from './token-count.js';
