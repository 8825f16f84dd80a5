/**
 * The box's side of signed OTA model updates (docs/ota.md): TUF metadata through tuf-js with atomic swaps
 * and high-water marks, resumable capped downloads, the persisted install state machine with trial window
 * and rollback, signed status reports, and the MQTT nudge entry point.
 */
export { OtaAgent, handleOtaNudge, type OtaAgentOptions } from './agent.ts';
export { CLOCK_CEILING, CLOCK_FLOOR, checkClock } from './clock.ts';
export { otaConfigSchema, type OtaConfig } from './config.ts';
export { daemonOtaAgent } from './daemon-agent.ts';
export { isOtaError, OTA_REASONS, OtaError, SUSPICIOUS_REASONS, type OtaReason } from './errors.ts';
export { HighWaterMarkStore, type HighWaterMark } from './high-water-mark.ts';
export { OtaInstaller } from './installer.ts';
export {
  DAEMON_VERSION, DEFAULT_OTA_SETTINGS, type ActivationHooks, type JobOutcome, type OtaEnvironment, type OtaSettings, type UpdateRequest,
} from './settings.ts';
export type { MetadataView, TrustedRelease, UnusableRelease } from './metadata-view.ts';
export { MAX_NUDGE_BYTES, parseNudge, type Nudge, type NudgeVerdict } from './nudge.ts';
export { CUSTOM_KEY, modelDelegationPaths, releaseFactsSchema, releaseFilePath, type ReleaseFacts } from './release-target.ts';
export { repositorySource } from './source.ts';
export { loadDeviceKey, statusMessage, type DeviceKey, type SignedStatus, type StatusBody } from './status-report.ts';
export { DEFAULT_TRANSFER_LIMITS, type TransferLimits, type WriteFault } from './transfer.ts';
export { TrustedMetadata, type RepositorySource } from './trusted-metadata.ts';
