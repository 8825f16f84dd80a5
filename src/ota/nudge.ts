/**
 * MQTT messages about updates are nudges, never authority: at most they make the box refresh its signed
 * metadata sooner. Two kinds arrive:
 *   - the retained fleet announcement on pathbox/v1/fleet/ota: { type: "ota-announce", v: 1, timestampVersion, ... }
 *   - a per-device command: { type: "ota-install", v: 1, nonce, expiresAt, model?: { id, version } }
 * Oversize, malformed, stale (a timestamp version the box already has), expired or replayed (nonce seen)
 * messages are dropped. A command naming a model installs it only if the signed metadata picks it anyway.
 */
import { z } from 'zod';
import { MODEL_ID_PATTERN, SEMVER_PATTERN } from '../models/index.ts';

/** Larger payloads are dropped unread (the broker's maximumPacketSize should already stop them). */
export const MAX_NUDGE_BYTES = 8192;

const announceSchema = z.object({
  type: z.literal('ota-announce'),
  v: z.literal(1),
  timestampVersion: z.int().positive(),
});

const commandSchema = z.object({
  type: z.literal('ota-install'),
  v: z.literal(1),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  expiresAt: z.iso.datetime(),
  model: z.strictObject({ id: z.string().regex(MODEL_ID_PATTERN), version: z.string().regex(SEMVER_PATTERN) }).optional(),
});

export type Nudge = z.infer<typeof announceSchema> | z.infer<typeof commandSchema>;

export type NudgeVerdict =
  | { accepted: true; nudge: Nudge }
  | { accepted: false; reason: 'oversize' | 'malformed' | 'stale' | 'expired' | 'replayed' | 'no update agent running' | 'busy'; detail: string };

/** Parses a payload; the caller decides staleness and replays, which need the box's state. */
export function parseNudge(payload: Buffer | string): NudgeVerdict {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > MAX_NUDGE_BYTES) return { accepted: false, reason: 'oversize', detail: `${size} bytes, the limit is ${MAX_NUDGE_BYTES}` };
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return { accepted: false, reason: 'malformed', detail: 'not JSON' };
  }
  const type = (json as { type?: unknown } | null)?.type;
  const parsed = type === 'ota-install' ? commandSchema.safeParse(json) : announceSchema.safeParse(json);
  if (!parsed.success) return { accepted: false, reason: 'malformed', detail: parsed.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ') };
  return { accepted: true, nudge: parsed.data };
}
