import sharp from 'sharp';
import { ConcurrencyLimit, encodeJpeg, POOL_THREADS, regionScaleFor, type Slide } from '../../slide/index.ts';
import type { TileSourcePlan } from './deep-zoom.ts';

const JPEG_QUALITY = 80;

/**
 * Composed tiles (read, decode, encode: a millisecond or two of CPU each, in a few jobs of libuv's pool)
 * run at most one per pool thread at a time: enough to keep the pool busy while one waits for its reads,
 * few enough that a burst of them does not queue dozens of jobs ahead of the stored tiles' reads.
 */
const composing = new ConcurrencyLimit(POOL_THREADS);

/**
 * Makes one Deep Zoom tile: the stored JPEG as it is when it is exactly the tile asked for (no decode, no
 * re-encode); otherwise a region read from the best level, scaled and encoded, as OpenSlide's
 * DeepZoomGenerator does.
 */
export async function renderTile(slide: Slide, plan: TileSourcePlan): Promise<Buffer> {
  if (plan.storedTile) {
    const raw = await slide.readRawJpegTile(plan.slideLevel, plan.storedTile.col, plan.storedTile.row);
    if (raw && raw.width === plan.width && raw.height === plan.height) return raw.data;
  }
  return composing.run(async () => {
    // Deep Zoom levels between stored ones are halvings: libjpeg decodes the tiles at half size directly.
    const scale = regionScaleFor(Math.min(plan.readWidth / plan.width, plan.readHeight / plan.height));
    const region = await slide.readRegion(plan.slideLevel, plan.x, plan.y, plan.readWidth, plan.readHeight, { scale });
    if (region.width === plan.width && region.height === plan.height) return encodeJpeg(region, JPEG_QUALITY);
    const { data } = await sharp(region.data, { raw: { width: region.width, height: region.height, channels: 3 } })
      .resize(plan.width, plan.height, { fit: 'fill', kernel: 'lanczos3' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    return encodeJpeg({ width: plan.width, height: plan.height, channels: 3, data }, JPEG_QUALITY);
  });
}
