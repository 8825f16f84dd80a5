import { z } from 'zod';

/** "HH:MM-HH:MM" in the box's local time; a window may cross midnight ("22:00-06:00"). */
export const UPLOAD_WINDOW = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/;

/**
 * The `mqtt` section of the box's configuration. Without `url` the box never connects (and works
 * fully offline); everything else has a default.
 */
export const mqttConfigSchema = z.strictObject({
  url: z.string().regex(/^mqtts?:\/\//, 'must start with mqtt:// or mqtts://').optional(),
  deviceId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash and underscore only').optional(),
  /** PEM files: the broker's CA, the box's certificate and key (`pathbox device provision` makes the key and CSR). */
  ca: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
  telemetrySeconds: z.number().min(5).default(60),
  /** How long the broker keeps the box's session (subscriptions, queued answers) while it is offline. */
  sessionExpirySeconds: z.number().int().min(0).max(0xffffffff).default(7 * 24 * 3600),
  /** Reconnect back-off grows from 1 s up to this, with random jitter. */
  reconnectMaxSeconds: z.number().min(1).max(3600).default(60),
  bandwidth: z.strictObject({
    /** All published bytes in any sliding hour; null = no limit. */
    bytesPerHour: z.number().int().positive().nullable().default(null),
    /** A rate cap so an upload never saturates a thin line; null = no cap. */
    bytesPerSecond: z.number().int().positive().nullable().default(null),
    /** Second-opinion packages upload only inside these windows; empty = any time. */
    bulkWindows: z.array(z.string().regex(UPLOAD_WINDOW, 'must look like "22:00-06:00"')).default([]),
  }).prefault({}),
  secondOpinion: z.strictObject({
    /** Regions of interest in a package (the analysis' top-K). */
    regions: z.number().int().min(1).max(50).default(10),
    chunkKiB: z.number().int().min(1).max(1024).default(64),
  }).prefault({}),
}).superRefine((mqtt, ctx) => {
  if (!!mqtt.cert !== !!mqtt.key) ctx.addIssue({ code: 'custom', path: [mqtt.cert ? 'key' : 'cert'], message: 'cert and key go together' });
});

export type MqttConfig = z.infer<typeof mqttConfigSchema>;
