import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** One unit of ingest: a slide file, or a multi-file slide (a DICOM series folder) taken as one. */
export interface Candidate {
  /** The path the slide is known by: the file, or the series folder. */
  key: string;
  /** The file the reader opens. */
  openPath: string;
  /** Every file that makes up the slide, sorted; hashed in this order. */
  files: string[];
  sizeBytes: number;
  mtimeMs: number;
}

/** Names scanners and copy tools use while a file is still being written. */
const IN_PROGRESS = [/^\./, /^~/, /\.(tmp|temp|part|partial|crdownload|filepart|lock)$/i, /^Thumbs\.db$/i, /^desktop\.ini$/i];
const MAX_DEPTH = 3;
const DICOM_FILE = /\.dcm$/i;

export function isInProgressName(name: string): boolean {
  return IN_PROGRESS.some((pattern) => pattern.test(name));
}

/**
 * Lists candidates under an inbox folder: plain files, the DICOM files of one folder as one slide (DICOM
 * scanners write one series per folder), and dated sub-folders scanners write into (to a small depth).
 */
export async function listCandidates(inbox: string, depth = 0): Promise<Candidate[]> {
  const entries = await readdir(inbox, { withFileTypes: true });
  const out: Candidate[] = [];
  const dicomFiles: string[] = [];
  for (const entry of entries) {
    if (isInProgressName(entry.name)) continue;
    const full = path.join(inbox, entry.name);
    if (entry.isFile()) {
      if (DICOM_FILE.test(entry.name)) dicomFiles.push(full);
      else out.push(await fileCandidate(full));
    } else if (entry.isDirectory() && depth < MAX_DEPTH) {
      out.push(...(await listCandidates(full, depth + 1)));
    }
  }
  if (dicomFiles.length > 0) out.push(await seriesCandidate(inbox, dicomFiles.sort()));
  return out;
}

async function fileCandidate(file: string): Promise<Candidate> {
  const info = await stat(file);
  return { key: file, openPath: file, files: [file], sizeBytes: info.size, mtimeMs: info.mtimeMs };
}

async function seriesCandidate(folder: string, files: string[]): Promise<Candidate> {
  let sizeBytes = 0;
  let mtimeMs = 0;
  for (const file of files) {
    const info = await stat(file);
    sizeBytes += info.size;
    mtimeMs = Math.max(mtimeMs, info.mtimeMs);
  }
  return { key: folder, openPath: files[0], files, sizeBytes, mtimeMs };
}
