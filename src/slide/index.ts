/** The slide stage's public surface: open any supported whole-slide image and read it. */
export { openSlide, registerDriver } from './open.ts';
export type { OpenOptions } from './open.ts';
export type { CacheAdmission } from './tile-cache.ts';
export { SlideError, isSlideError, LIMITS } from './errors.ts';
export type { SlideErrorCode } from './errors.ts';
export { Property } from './properties.ts';
export { TiledSlide } from './tiled-slide.ts';
export { regionScaleFor } from './types.ts';
export { ConcurrencyLimit, POOL_THREADS } from './concurrency.ts';
export { encodeJpeg, jpegCodec } from './codecs/jpeg.ts';
export type { Bounds, RawJpegTile, RegionOptions, RegionScale, RgbImage, Slide, SlideLevel, SlideMetadata } from './types.ts';
