export { startEmulator, type RunningEmulator } from './server.js';
export {
  loadEmulatorConfig,
  parseEmulatorConfig,
  type BatchConfig,
  type EmulatorConfig,
  type EmulatorConfigInput,
  type LatencyRange,
  type ModelBehaviour,
  type ProjectConfig,
  type QuotaLimits,
} from './emulator-config.js';
export type { EmulatorCounters, EmulatorStats, ProjectStats } from './emulator-stats.js';
export { countTextTokens } from './token-count.js';
