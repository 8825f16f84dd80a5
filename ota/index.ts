/** The vendor's OTA tooling: signing keys, the TUF repository, publishing and its status. */
export { OtaToolError, type OtaToolErrorCode } from './errors.ts';
export { DEFAULT_KEY_NAMES, generateSigningKey, loadKeys, writeNewKeys, type SigningKey } from './keys.ts';
export {
  DEFAULT_EXPIRY_DAYS, Repository, serializeMetadata, tufExpiry,
  type ListedRelease, type ModelOptions, type RepositorySettings, type SignOptions, type TopRole,
} from './repository.ts';
export { announcement, exportUsb, publishRepository, USB_MARKER, type PublishSummary } from './publish.ts';
export { repositoryStatus, type RepositoryStatus, type RoleStatus } from './status.ts';
