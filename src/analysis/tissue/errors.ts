/**
 * Failures of tissue detection carry a stable code so the analysis pipeline can mark a slide failed with
 * a precise reason instead of parsing messages.
 */
export type TissueErrorCode =
  | 'INVALID_IMAGE' // the RGB buffer does not match its declared size or layout
  | 'INVALID_OPTIONS' // a detector option is out of its meaningful range
  | 'MASK_SIZE_MISMATCH' // two masks compared pixel by pixel have different sizes
  | 'INVALID_MASK' // a mask's data does not match its declared size
  | 'IO'; // writing a mask file failed

export class TissueError extends Error {
  readonly code: TissueErrorCode;
  constructor(code: TissueErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TissueError';
    this.code = code;
  }
}
