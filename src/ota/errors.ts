/**
 * Why an update did not happen, as the fleet sees it: every failed or refused job ends with one of these
 * reason codes (docs/ota.md lists them). The terminal state says who is at fault: REJECTED for what the
 * repository offered (or an attack), FAILED for trouble on the way or on the box, ROLLED_BACK after activation.
 */
export const OTA_REASONS = {
  CLOCK_UNTRUSTED: 'the box clock is before the build date or absurdly far ahead; new metadata is not accepted until it is set',
  NO_TRUST_ROOT: 'the box has no trusted root metadata (pin the factory root with --root)',
  EXPIRED_METADATA: 'a role of the repository metadata has expired (possible freeze attack, or the vendor signer is down)',
  INVALID_SIGNATURE: 'metadata is not signed by a threshold of the keys the trusted root or delegator names',
  INVALID_METADATA: 'metadata is malformed, of the wrong type, or inconsistent with the snapshot or timestamp (mix-and-match)',
  METADATA_ROLLBACK: 'the repository served an older metadata version than the box has already seen',
  ENDLESS_DATA: 'a server sent more bytes than the signed or configured length',
  SLOW_RETRIEVAL: 'a download stayed below the minimum throughput or passed its deadline',
  DOWNLOAD_FAILED: 'a file could not be downloaded (server or network error) within the retry budget',
  TARGET_MISMATCH: 'downloaded bytes do not match the signed length and hashes',
  BUNDLE_INVALID: 'the release does not list the bundle exactly (missing, extra or unsafe paths) or its manifest disagrees with the signed facts',
  MODEL_INVALID: 'the model does not load in onnxruntime or its inputs and outputs differ from the manifest',
  SELF_TEST_FAILED: 'the model gives results outside the tolerance of its self-test vectors',
  DOWNGRADE: 'the release is older than the one installed (release counter)',
  INCOMPATIBLE: 'no newer release is built for this hardware or daemon version',
  NOT_AUTHORISED: 'the requested release is not the latest release the signed metadata authorises for this box',
  RELEASE_BLOCKED: 'the release failed on this box before; it is retried only when its role publishes new metadata',
  NO_SPACE: 'not enough free space for the download and staging',
  HEALTH_FAILED: 'the new model failed during its trial window and the previous model was restored',
  BUSY: 'another update is in progress',
  IO_ERROR: 'the box could not read or write its own files',
} as const;

export type OtaReason = keyof typeof OTA_REASONS;

/** Reasons that say the repository, a mirror or the network may be hostile (reported as attackSuspected). */
export const SUSPICIOUS_REASONS: readonly OtaReason[] = [
  'INVALID_SIGNATURE', 'INVALID_METADATA', 'METADATA_ROLLBACK', 'ENDLESS_DATA', 'TARGET_MISMATCH', 'DOWNGRADE', 'NOT_AUTHORISED',
];

export class OtaError extends Error {
  readonly reason: OtaReason;
  constructor(reason: OtaReason, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OtaError';
    this.reason = reason;
  }
}

export function isOtaError(e: unknown, reason?: OtaReason): e is OtaError {
  return e instanceof OtaError && (reason === undefined || e.reason === reason);
}

/** Node's error codes for a full or unwritable disk. */
export function isNoSpace(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
