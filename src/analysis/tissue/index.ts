export { detectTissue } from './detect.ts';
export { TissueError, type TissueErrorCode } from './errors.ts';
export { maskIoU, writeMaskPng, type TissueMask } from './mask.ts';
export { DEFAULT_TISSUE_OPTIONS, type TissueDetectorOptions } from './options.ts';
