import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { REGENERABLE_FILES } from '../analysis/derived-files.ts';

/**
 * Frees space by removing derived files older than `retentionDays` from result folders
 * (results/<sha256>/<job>/). Only files that can be regenerated are touched: result.json, the score grid,
 * the regions and everything in the database (results, reviews, audit) are never deleted.
 */
export async function pruneDerivedFiles(resultsDir: string, retentionDays: number, now = Date.now()): Promise<{ files: number; bytes: number }> {
  const cutoff = now - retentionDays * 86_400_000;
  let files = 0;
  let bytes = 0;
  for (const slide of await readdir(resultsDir).catch(() => [] as string[])) {
    for (const job of await readdir(path.join(resultsDir, slide)).catch(() => [] as string[])) {
      for (const name of REGENERABLE_FILES) {
        const file = path.join(resultsDir, slide, job, name);
        const info = await stat(file).catch(() => null);
        if (!info || info.mtimeMs > cutoff) continue;
        await rm(file, { force: true });
        files++;
        bytes += info.size;
      }
    }
  }
  return { files, bytes };
}
