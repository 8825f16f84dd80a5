import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { SlideError } from '../errors.ts';
import { FileSource } from '../file-source.ts';
import { seriesOf } from './dataset.ts';
import { DicomInstance } from './instance.ts';

/** Scanner folders hold a few files per slide; far more means the folder is not one slide's series. */
const MAX_CANDIDATES = 10_000;

/**
 * Every usable instance of the opened file's series: the file's folder is scanned (not recursively) for
 * `*.dcm` and extension-less files, reading only their headers, as OpenSlide does. Instances come in
 * file-name order with duplicates (same SOP Instance UID) dropped; files of other series are closed.
 * `opened` belongs to the caller until this returns; the returned sources (which include it) are the
 * caller's to close.
 */
export async function openSeries(opened: FileSource): Promise<{ instances: DicomInstance[]; sources: FileSource[] }> {
  const series = await seriesOf(opened);
  if (!series) throw new SlideError('CORRUPT_STRUCTURE', `${opened.path}: no Series Instance UID`);
  const sources: FileSource[] = [];
  try {
    for (const candidate of await candidates(opened.path)) {
      const source = await FileSource.open(candidate).catch(() => null);
      if (!source) continue;
      const member = await seriesOf(source).then((uid) => uid === series, () => false);
      if (member) sources.push(source);
      else await source.close();
    }
    const instances: DicomInstance[] = [];
    const seen = new Set<string>();
    // File-name order, whichever file was opened, so the same series always gives the same slide.
    const members = [opened, ...sources].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const source of members) {
      const instance = await DicomInstance.open(source);
      if (!instance || seen.has(instance.sopInstanceUid)) continue;
      seen.add(instance.sopInstanceUid);
      instances.push(instance);
    }
    return { instances, sources: members };
  } catch (e) {
    await Promise.all(sources.map((s) => s.close()));
    throw e;
  }
}

async function candidates(openedPath: string): Promise<string[]> {
  const folder = path.dirname(openedPath);
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (e) {
    throw new SlideError('IO', `cannot list ${folder}: ${(e as Error).message}`, { cause: e });
  }
  const openedName = path.basename(openedPath);
  const names = entries
    .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && entry.name !== openedName)
    .map((entry) => entry.name)
    .filter((name) => {
      const extension = path.extname(name).toLowerCase();
      return extension === '.dcm' || extension === '';
    })
    .sort();
  if (names.length > MAX_CANDIDATES) {
    throw new SlideError('TOO_LARGE', `${folder} holds ${names.length} possible DICOM files (limit ${MAX_CANDIDATES}): keep each slide's series in its own folder`);
  }
  return names.map((name) => path.join(folder, name));
}
