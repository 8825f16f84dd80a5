/**
 * What travels on the wire, shared by the box and the cloud side: MQTT 5 publish properties and their
 * exact packet size, the frame of a binary package chunk, and the second-opinion package container.
 */
import { createHash } from 'node:crypto';

export const IDEMPOTENCY_PROPERTY = 'idempotency-key';
export const JSON_CONTENT_TYPE = 'application/json';
export const CHUNK_CONTENT_TYPE = 'application/vnd.pathbox.package-chunk';
export const PACKAGE_FORMAT = 'pathbox-package/1';

export class WireError extends Error {
  override name = 'WireError';
}

export interface PublishProperties {
  contentType: string;
  /** Absent rather than empty: mqtt-packet encodes an empty user-property map as a zero-length packet. */
  userProperties?: Record<string, string>;
}

export function publishProperties(idempotencyKey: string, payload: Buffer): PublishProperties {
  return { contentType: isChunk(payload) ? CHUNK_CONTENT_TYPE : JSON_CONTENT_TYPE, userProperties: { [IDEMPOTENCY_PROPERTY]: idempotencyKey } };
}

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');
const varintBytes = (n: number) => (n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4);

/**
 * Size of the MQTT 5 PUBLISH packet (QoS 1) that carries this message: fixed header, topic, packet id,
 * properties, payload. TLS and TCP framing come on top and are not counted.
 */
export function publishPacketBytes(topic: string, payload: Buffer, properties: PublishProperties, qos: 0 | 1 = 1): number {
  let props = 1 + 2 + utf8(properties.contentType);
  for (const [key, value] of Object.entries(properties.userProperties ?? {})) props += 1 + 2 + utf8(key) + 2 + utf8(value);
  const remaining = 2 + utf8(topic) + (qos > 0 ? 2 : 0) + varintBytes(props) + props + payload.length;
  return 1 + varintBytes(remaining) + remaining;
}

// ---- package chunks: a JSON header line, then raw bytes (no base64: the line is thin) -----------------

export interface ChunkHeader {
  type: 'second-opinion.chunk';
  idempotencyKey: string;
  requestId: string;
  index: number;
  chunks: number;
  offset: number;
  bytes: number;
  sha256: string;
}

const NEWLINE = 0x0a;
const CHUNK_PREFIX = Buffer.from('{"type":"second-opinion.chunk"');

function isChunk(payload: Buffer): boolean {
  return payload.subarray(0, CHUNK_PREFIX.length).equals(CHUNK_PREFIX);
}

export function encodeChunk(header: Omit<ChunkHeader, 'type' | 'bytes' | 'sha256'>, data: Buffer): Buffer {
  const full: ChunkHeader = { type: 'second-opinion.chunk', ...header, bytes: data.length, sha256: sha256(data) };
  return Buffer.concat([Buffer.from(`${JSON.stringify(full)}\n`), data]);
}

export function decodeChunk(payload: Buffer): { header: ChunkHeader; data: Buffer } {
  const end = payload.indexOf(NEWLINE);
  if (!isChunk(payload) || end < 0) throw new WireError('not a package chunk (no JSON header line)');
  const header = JSON.parse(payload.subarray(0, end).toString('utf8')) as ChunkHeader;
  const data = payload.subarray(end + 1);
  if (data.length !== header.bytes || sha256(data) !== header.sha256) {
    throw new WireError(`chunk ${header.index} of request ${header.requestId} is damaged (length or SHA-256 differs from its header)`);
  }
  return { header, data };
}

export function splitChunks(blob: Buffer, chunkBytes: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < blob.length; offset += chunkBytes) chunks.push(blob.subarray(offset, offset + chunkBytes));
  return chunks.length ? chunks : [Buffer.alloc(0)];
}

// ---- the package: files laid end to end, described by a manifest that travels in the request -------

export interface PackageFileEntry {
  name: string;
  mediaType: string;
  offset: number;
  bytes: number;
  sha256: string;
  /** For region images: where on the slide (level-0 px), its score and the image's microns per pixel. */
  region?: { rank: number; x: number; y: number; width: number; height: number; score: number; mpp: number };
}

export interface PackageManifest {
  format: typeof PACKAGE_FORMAT;
  bytes: number;
  sha256: string;
  files: PackageFileEntry[];
}

export interface PackageFile {
  name: string;
  mediaType: string;
  data: Buffer;
  region?: PackageFileEntry['region'];
}

export function encodePackage(files: PackageFile[]): { manifest: PackageManifest; blob: Buffer } {
  let offset = 0;
  const entries = files.map((file) => {
    const entry: PackageFileEntry = { name: file.name, mediaType: file.mediaType, offset, bytes: file.data.length, sha256: sha256(file.data), ...(file.region && { region: file.region }) };
    offset += file.data.length;
    return entry;
  });
  const blob = Buffer.concat(files.map((f) => f.data));
  return { manifest: { format: PACKAGE_FORMAT, bytes: blob.length, sha256: sha256(blob), files: entries }, blob };
}

/** Splits a reassembled package into its files, refusing one whose bytes differ from the manifest. */
export function decodePackage(manifest: PackageManifest, blob: Buffer): PackageFile[] {
  if (manifest.format !== PACKAGE_FORMAT) throw new WireError(`unknown package format ${JSON.stringify(manifest.format)}`);
  if (blob.length !== manifest.bytes || sha256(blob) !== manifest.sha256) throw new WireError('package bytes differ from the manifest (length or SHA-256)');
  return manifest.files.map((entry) => ({
    name: entry.name, mediaType: entry.mediaType, data: blob.subarray(entry.offset, entry.offset + entry.bytes), ...(entry.region && { region: entry.region }),
  }));
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
