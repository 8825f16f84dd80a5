import { SlideError } from './errors.ts';
import { FileSource } from './file-source.ts';
import { TiffFile } from './tiff/tiff-file.ts';
import { TiledSlide } from './tiled-slide.ts';
import type { CacheAdmission } from './tile-cache.ts';
import { aperioDriver } from './drivers/aperio.ts';
import { genericTiffDriver, plainTiffDriver } from './drivers/generic-tiff.ts';
import { ndpiDriver } from './drivers/ndpi.ts';
import { dicomDriver } from './drivers/dicom.ts';
import type { FileProbe, Slide, SlideDriver } from './types.ts';

/** Drivers in detection order: specific vendors first, the generic fallbacks last. */
const drivers: SlideDriver[] = [aperioDriver, ndpiDriver, genericTiffDriver, plainTiffDriver];

/** Registers another format driver ahead of the generic ones (the DICOM and NDPI drivers use this). */
export function registerDriver(driver: SlideDriver): void {
  drivers.splice(Math.max(0, drivers.length - 2), 0, driver);
}
registerDriver(dicomDriver);

export interface OpenOptions {
  /** Budget of the decoded-tile cache in bytes (default 96 MiB; 0 disables it). */
  cacheBytes?: number;
  /**
   * Tiles decoded at once through this handle (default: as many as a region asks for). The analysis
   * leaves the cores its inference threads use to them.
   */
  decodeThreads?: number;
  /**
   * When a decoded tile enters the cache: on its 'second-request' (the default; a random read's tiles are
   * mostly never asked for again, and a first request decodes only the part it needs), or on its
   * 'first-request', for regions laid edge to edge that share their border tiles (the analysis grid).
   */
  cacheAdmission?: CacheAdmission;
}

/** Opens any supported whole-slide image; throws a SlideError with a code and a reason otherwise. */
export async function openSlide(path: string, options: OpenOptions = {}): Promise<Slide> {
  const source = await FileSource.open(path);
  let keepOpen = false;
  try {
    const head = await source.readUpTo(0, 4096);
    const tiff = TiffFile.looksLikeTiff(head) ? await TiffFile.parse(source) : null;
    const probe: FileProbe = { path, source, size: source.size, head, tiff };
    const driver = drivers.find((d) => d.detect(probe));
    if (!driver) throw new SlideError('UNSUPPORTED_FORMAT', 'unsupported format: not a TIFF, SVS, NDPI or DICOM slide');
    const slide = await driver.open(probe);
    if (slide instanceof TiledSlide) {
      if (options.cacheBytes !== undefined) slide.setCacheBudget(options.cacheBytes);
      if (options.decodeThreads !== undefined) slide.limitDecodes(options.decodeThreads);
      if (options.cacheAdmission !== undefined) slide.setCacheAdmission(options.cacheAdmission);
    }
    keepOpen = true;
    return slide;
  } finally {
    if (!keepOpen) await source.close();
  }
}
