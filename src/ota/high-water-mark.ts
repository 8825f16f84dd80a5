/**
 * The highest metadata versions and model release counters this box has ever trusted, kept apart from the
 * TUF metadata files in two fsync'd copies (hwm-a.json, hwm-b.json, each replaced atomically). A truncated
 * or deleted timestamp.json or snapshot.json no longer lets an older, still-valid version back in, which
 * plain tuf-js would accept.
 *
 * Role versions are scoped by a key epoch: the spec's fast-forward recovery (5.3.11) forgets timestamp and
 * snapshot versions when a new root rotates their keys, so a version counts only while the keys that
 * vouched for it are the same. Root versions and release counters never go down.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { replaceFileDurably } from '../models/index.ts';

const markSchema = z.strictObject({ version: z.int().nonnegative(), epoch: z.string() });
const fileSchema = z.strictObject({
  format: z.literal(1),
  root: z.int().nonnegative(),
  roles: z.record(z.string(), markSchema),
  models: z.record(z.string(), z.int().nonnegative()),
});

export type HighWaterMark = z.infer<typeof fileSchema>;
export type RoleMark = z.infer<typeof markSchema>;

const COPIES = ['hwm-a.json', 'hwm-b.json'];

/** An epoch string for a set of key ids (order-free). */
export function keyEpoch(...keyIdSets: readonly (readonly string[])[]): string {
  const text = keyIdSets.map((ids) => [...ids].sort().join(',')).join('|');
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

export function emptyMark(): HighWaterMark {
  return { format: 1, root: 0, roles: {}, models: {} };
}

/**
 * Combines two marks, keeping the highest of everything. A role whose epoch differs keeps the entry from the
 * mark with the newer root (epochs change only with a new root).
 */
export function mergeMarks(a: HighWaterMark, b: HighWaterMark): HighWaterMark {
  const [older, newer] = a.root <= b.root ? [a, b] : [b, a];
  const roles: Record<string, RoleMark> = { ...older.roles };
  for (const [name, mark] of Object.entries(newer.roles)) {
    const old = roles[name];
    roles[name] = old && old.epoch === mark.epoch ? { epoch: mark.epoch, version: Math.max(old.version, mark.version) } : mark;
  }
  const models: Record<string, number> = { ...a.models };
  for (const [id, counter] of Object.entries(b.models)) models[id] = Math.max(models[id] ?? 0, counter);
  return { format: 1, root: newer.root, roles, models };
}

export class HighWaterMarkStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The merged mark of both copies; null when neither exists or is readable. */
  async read(): Promise<HighWaterMark | null> {
    const copies: HighWaterMark[] = [];
    for (const name of COPIES) {
      try {
        const parsed = fileSchema.safeParse(JSON.parse(await readFile(path.join(this.dir, name), 'utf8')));
        if (parsed.success) copies.push(parsed.data);
      } catch {
        // a missing or torn copy; the other one (or the trusted metadata) still knows
      }
    }
    return copies.length === 0 ? null : copies.reduce(mergeMarks);
  }

  /** Raises the stored mark to include `update` (never lowers anything within an epoch) and returns it. */
  async raise(update: HighWaterMark): Promise<HighWaterMark> {
    const merged = mergeMarks((await this.read()) ?? emptyMark(), update);
    await mkdir(this.dir, { recursive: true });
    const text = `${JSON.stringify(merged, null, 2)}\n`;
    for (const name of COPIES) await replaceFileDurably(path.join(this.dir, name), text);
    return merged;
  }
}
