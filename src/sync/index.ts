/** The sync stage's public surface: MQTT to the cloud (docs/mqtt.md), and the wire format the cloud side shares. */
export { SyncClient, type SyncClientOptions } from './client.ts';
export { mqttConfigSchema, type MqttConfig } from './config.ts';
export { BandwidthBudget, reconnectDelayMs } from './budget.ts';
export {
  deidentifiedResult, eventMessages, resultAckSchema, resultMessage, secondOpinionResponseSchema, statusPayload, topics,
  RELAYED_EVENT_KINDS, type SecondOpinionRequestPayload, type SecondOpinionResponse,
} from './messages.ts';
export { requestSecondOpinion, SecondOpinionError, type SecondOpinionErrorCode, type SecondOpinionRequest } from './second-opinion.ts';
export { provisionDevice, ProvisionError, type ProvisionedIdentity } from './provision.ts';
export { describeSyncStatus, readSyncStatus, type SyncStatus, type SlideReduction } from './status.ts';
export type { Telemetry } from './telemetry.ts';
export {
  decodeChunk, decodePackage, encodeChunk, encodePackage, publishPacketBytes, publishProperties, sha256, splitChunks, WireError,
  CHUNK_CONTENT_TYPE, IDEMPOTENCY_PROPERTY, JSON_CONTENT_TYPE, PACKAGE_FORMAT,
  type ChunkHeader, type PackageFile, type PackageFileEntry, type PackageManifest,
} from './wire.ts';
