import { z } from 'zod';

/**
 * The `ota` section of the box's configuration. Without `repositoryUrl` the box takes updates only from a
 * USB bundle (pathbox ota install); everything else has a default.
 */
export const otaConfigSchema = z.strictObject({
  /** The fleet repository: serves metadata/ and targets/ below this URL (what `pathbox ota publish` writes). */
  repositoryUrl: z.string().regex(/^https?:\/\//, 'must start with http:// or https://').optional(),
  /** The factory root.json, pinned at manufacture; needed until the box has trusted metadata. */
  rootFile: z.string().optional(),
  /** Time between looks at the repository (MQTT nudges come sooner); 0 = only on nudges. */
  pollMinutes: z.number().min(0).default(360),
  /** Healthy analyses by a new model before it is committed; a failure before that rolls back. */
  trialAnalyses: z.number().int().min(0).max(1000).default(3),
}).prefault({});

export type OtaConfig = z.infer<typeof otaConfigSchema>;
