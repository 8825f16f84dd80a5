import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderHeatmapPng, type HeatmapGrid } from './heatmap.ts';

/**
 * Files in a result folder that can be made again from what is kept (the retention policy may delete
 * them under disk pressure; the result, the score grid and the regions are never deleted).
 */
export const REGENERABLE_FILES = ['heatmap.png', 'tissue-mask.png'] as const;

/** The heatmap PNG of a result folder, re-rendered from heatmap.json when retention removed it. */
export async function heatmapPng(outDir: string): Promise<Buffer> {
  const file = path.join(outDir, 'heatmap.png');
  try {
    return await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const grid = JSON.parse(await readFile(path.join(outDir, 'heatmap.json'), 'utf8')) as HeatmapGrid;
  const png = await renderHeatmapPng(grid);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, png);
  await rename(temporary, file);
  return png;
}
