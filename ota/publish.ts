/**
 * Writing a repository out as a static directory any HTTPS server (or a USB stick) can serve:
 *   OUT/metadata/<N>.root.json, <v>.snapshot.json, <v>.targets.json, <v>.<role>.json, timestamp.json
 *   OUT/targets/<dir>/<sha256>.<name>       (consistent snapshots: a file never changes under its name)
 *   OUT/announcement.json                   the retained MQTT nudge for pathbox/v1/fleet/ota
 * Publishing is additive and timestamp.json is replaced last, so boxes reading during a publish see the old
 * or the new repository, never a mix.
 */
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { replaceFileDurably, writeFileDurably } from '../src/models/index.ts';
import type { Repository } from './repository.ts';

export const USB_MARKER = 'pathbox-ota.json';

export interface PublishSummary {
  out: string;
  metadataFiles: number;
  targetFiles: number;
  timestampVersion: number;
  snapshotVersion: number;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false);
}

/** Copies a file unless the destination (an immutable, content-named file) is already there. */
async function copyOnce(from: string, to: string): Promise<boolean> {
  if (await exists(to)) return false;
  await mkdir(path.dirname(to), { recursive: true });
  await copyFile(from, to);
  return true;
}

/** The retained announcement: small, unsigned on purpose (MQTT only nudges; the box trusts TUF metadata alone). */
export function announcement(repo: Repository): object {
  return {
    type: 'ota-announce',
    v: 1,
    timestampVersion: repo.timestamp.signed.version,
    snapshotVersion: repo.snapshot.signed.version,
    releases: repo.releases().map((r) => ({ id: r.modelId, version: r.version, releaseCounter: r.releaseCounter })),
    publishedAt: new Date().toISOString(),
  };
}

export async function publishRepository(repo: Repository, out: string): Promise<PublishSummary> {
  repo.verify();
  await repo.save();
  const outDir = path.resolve(out);
  const metadataOut = path.join(outDir, 'metadata');
  await mkdir(metadataOut, { recursive: true });
  let metadataFiles = 0;
  let targetFiles = 0;
  const source = (name: string) => path.join(repo.metadataDir, name);
  for (const root of repo.roots) {
    if (await copyOnce(source(`${root.signed.version}.root.json`), path.join(metadataOut, `${root.signed.version}.root.json`))) metadataFiles++;
  }
  const roles: [string, number][] = [['targets', repo.targets.signed.version], ...[...repo.delegated].map(([name, md]): [string, number] => [name, md.signed.version])];
  for (const [name, version] of roles) {
    if (await copyOnce(source(`${name}.json`), path.join(metadataOut, `${version}.${name}.json`))) metadataFiles++;
  }
  for (const md of [repo.targets, ...repo.delegated.values()]) {
    for (const target of Object.values(md.signed.targets)) {
      const { dir, base } = path.posix.parse(target.path);
      const published = path.join(outDir, 'targets', ...dir.split('/'), `${target.hashes.sha256}.${base}`);
      if (await copyOnce(path.join(repo.targetsDir, ...target.path.split('/')), published)) targetFiles++;
    }
  }
  if (await copyOnce(source('snapshot.json'), path.join(metadataOut, `${repo.snapshot.signed.version}.snapshot.json`))) metadataFiles++;
  await replaceFileDurably(path.join(metadataOut, 'timestamp.json'), await readFile(source('timestamp.json')));
  await replaceFileDurably(path.join(outDir, 'announcement.json'), `${JSON.stringify(announcement(repo), null, 2)}\n`);
  return { out: outDir, metadataFiles: metadataFiles + 1, targetFiles, timestampVersion: repo.timestamp.signed.version, snapshotVersion: repo.snapshot.signed.version };
}

/** An offline bundle for `pathbox ota install PATH`: the published layout plus a marker naming what it is. */
export async function exportUsb(repo: Repository, out: string): Promise<PublishSummary> {
  const summary = await publishRepository(repo, out);
  const marker = path.join(summary.out, USB_MARKER);
  const text = `${JSON.stringify({ format: 1, exportedAt: new Date().toISOString(), timestampVersion: summary.timestampVersion }, null, 2)}\n`;
  if (await exists(marker)) await replaceFileDurably(marker, text);
  else await writeFileDurably(marker, text);
  return summary;
}
