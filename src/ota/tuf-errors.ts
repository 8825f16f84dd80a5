/**
 * tuf-js reports verification failures as untyped errors (and wraps snapshot and targets failures into a
 * string), so the reason code comes from the error text of the pinned tuf-js 5 / @tufjs/models 4. The
 * patterns are pinned by test/ota/tuf-errors.test.ts; an upgrade that changes them fails there first.
 */
import { OtaError, type OtaReason } from './errors.ts';

const PATTERNS: readonly [RegExp, OtaReason][] = [
  [/is expired/i, 'EXPIRED_METADATA'],
  [/was signed by \d+\/\d+ keys|no delegation found|failed to verify/i, 'INVALID_SIGNATURE'],
  [/is less than current version|Missing file \S+ in new snapshot/i, 'METADATA_ROLLBACK'],
  [/Expected version \d+, got \d+|does not match snapshot version|doesn't match timestamp/i, 'INVALID_METADATA'],
  [/Expected (length|hash)|Hash algorithm .* not supported/i, 'INVALID_METADATA'],
  [/expected '\w+', got|Expected '\w+', got/, 'INVALID_METADATA'],
  [/Max length reached/i, 'ENDLESS_DATA'],
];

/** The OtaError for a failed tuf-js refresh; `ownFailure` is the last error our fetcher raised, if any. */
export function classifyTufError(e: unknown, ownFailure: OtaError | null): OtaError {
  if (e instanceof OtaError) return e;
  const message = e instanceof Error ? e.message : String(e);
  if (ownFailure && message.includes(ownFailure.message)) return ownFailure;
  for (const [pattern, reason] of PATTERNS) {
    if (pattern.test(message)) return new OtaError(reason, message, { cause: e });
  }
  const status = (e as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number') return new OtaError('DOWNLOAD_FAILED', `metadata download failed: HTTP ${status}`, { cause: e });
  return new OtaError('INVALID_METADATA', message, { cause: e });
}
