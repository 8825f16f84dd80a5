/** Building hostile TUF metadata by hand for the metadata attack tests. */
import { createHash } from 'node:crypto';
import { Metadata, MetaFile, Root, Timestamp } from '@tufjs/models';
import { serializeMetadata, tufExpiry } from '../../../ota/index.ts';
import { key, resignWith, type Vendor } from './vendor.ts';

export const HOUR = 3600_000;

/** Snapshot/timestamp meta for the exact bytes a role is published as (optionally claiming another version). */
export function metaFor(md: Parameters<typeof serializeMetadata>[0], version = md.signed.version): MetaFile {
  const bytes = serializeMetadata(md);
  return new MetaFile({ version, length: Buffer.byteLength(bytes), hashes: { sha256: createHash('sha256').update(bytes).digest('hex') } });
}

/** A new timestamp vouching for the repository's current snapshot bytes, signed by the timestamp key. */
export function vouchForSnapshot(vendor: Vendor): void {
  const { repo } = vendor;
  repo.timestamp = new Metadata(new Timestamp({
    version: repo.timestamp.signed.version + 1, specVersion: '1.0.31', expires: tufExpiry(new Date(Date.now() + HOUR)), snapshotMeta: metaFor(repo.snapshot),
  }));
  resignWith(repo.timestamp, [key(vendor, 'timestamp')]);
}

/** A new root version with `edit` applied to its JSON, signed by `signers` (default: the vendor's root key). */
export function newRoot(vendor: Vendor, edit: (json: Record<string, any>) => void, signers = [key(vendor, 'root-1')]): Metadata<Root> {
  const json = vendor.repo.root.signed.toJSON() as Record<string, any>;
  json.version = vendor.repo.root.signed.version + 1;
  edit(json);
  const md = new Metadata(Root.fromJSON(json));
  for (const signer of signers) md.sign((data) => signer.sign(data));
  vendor.repo.roots.push(md);
  return md;
}
