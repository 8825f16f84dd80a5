/** Errors of the vendor's tooling, each naming the key, role, file or model at fault. */
export type OtaToolErrorCode =
  | 'BAD_KEY' // a key file is unreadable, malformed, or would be overwritten
  | 'MISSING_KEY' // the key directory lacks the keys a role needs to reach its threshold
  | 'BAD_REPOSITORY' // the repository directory is missing, malformed, or its signatures do not verify
  | 'BAD_MODEL' // the model bundle is invalid, or conflicts with what the repository already lists
  | 'BAD_ARGUMENT'; // a role name, threshold or option that cannot be applied

export class OtaToolError extends Error {
  readonly code: OtaToolErrorCode;
  constructor(code: OtaToolErrorCode, message: string) {
    super(message);
    this.name = 'OtaToolError';
    this.code = code;
  }
}
