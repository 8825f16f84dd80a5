/** Where updates come from, as the CLI and the configuration name it: a repository URL or a folder (USB stick). */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { OtaError } from './errors.ts';
import type { RepositorySource } from './trusted-metadata.ts';

/**
 * `https://host/repo` (or http) serves metadata/ and targets/ below it; a folder holds the same layout (what
 * `pathbox ota publish` and `ota export-usb` write).
 */
export async function repositorySource(location: string): Promise<RepositorySource> {
  if (/^https?:\/\//.test(location)) {
    const base = location.endsWith('/') ? location : `${location}/`;
    return { metadataUrl: `${base}metadata/`, targetsUrl: `${base}targets/` };
  }
  const dir = path.resolve(location);
  const metadata = path.join(dir, 'metadata');
  if (!(await stat(metadata).then((s) => s.isDirectory(), () => false))) {
    throw new OtaError('DOWNLOAD_FAILED', `${dir} is not an update bundle (no metadata/ folder); write one with pathbox ota export-usb`);
  }
  return { metadataUrl: `${pathToFileURL(metadata).href}/`, targetsUrl: `${pathToFileURL(path.join(dir, 'targets')).href}/` };
}
