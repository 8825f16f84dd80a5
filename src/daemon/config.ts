import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { mqttConfigSchema } from '../sync/config.ts';
import { otaConfigSchema } from '../ota/config.ts';

/**
 * The box's configuration: one YAML (or JSON) file, validated at start-up. Every message names the
 * offending key, so hospital IT can fix the file without reading code.
 */
export const DEFAULT_CONFIG_FILE = '/etc/pathbox/pathbox.yaml';

// 0 asks the OS for a free port (tests).
const port = z.number().int().min(0).max(65535);

export const configSchema = z.strictObject({
  dataDir: z.string().min(1).default('/var/lib/pathbox'),
  inboxes: z.array(z.string().min(1)).min(1).default(['/srv/scanner']),
  ingest: z.strictObject({
    settleSeconds: z.number().min(0).max(3600).default(10),
    pollSeconds: z.number().min(0.1).max(600).default(2),
  }).prefault({}),
  analysis: z.strictObject({
    concurrency: z.number().int().min(1).max(16).default(1),
    model: z.string().min(1).default('cellularity'),
    maxAttempts: z.number().int().min(1).max(20).default(3),
    /** Used when a slide has neither MPP nor objective power; null refuses such slides. */
    defaultMpp: z.number().positive().max(100).nullable().default(null),
    /** SIGTERM waits this long for the running slide before checkpointing it back to the queue. */
    drainSeconds: z.number().min(0).max(600).default(20),
  }).prefault({}),
  disk: z.strictObject({
    /** Ingest pauses below this much free space in dataDir... */
    pauseBelowMB: z.number().int().min(0).default(2048),
    /** ...and resumes above this (hysteresis, so it does not flap). */
    resumeAboveMB: z.number().int().min(0).default(3072),
    /** Derived files (heatmap images, tile caches) older than this may be removed; results never are. */
    retentionDays: z.number().min(1).default(90),
  }).prefault({}),
  http: z.strictObject({
    host: z.string().default('0.0.0.0'),
    port: port.default(8443),
    tlsCert: z.string().optional(),
    tlsKey: z.string().optional(),
  }).prefault({}),
  mqtt: mqttConfigSchema.prefault({}),
  ota: otaConfigSchema,
  hospital: z.strictObject({
    name: z.string().default('County Hospital'),
    logo: z.string().optional(),
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  }).prefault({}),
}).superRefine((config, ctx) => {
  if (config.disk.resumeAboveMB < config.disk.pauseBelowMB) {
    ctx.addIssue({ code: 'custom', path: ['disk', 'resumeAboveMB'], message: 'must be at least disk.pauseBelowMB' });
  }
  if (!!config.http.tlsCert !== !!config.http.tlsKey) {
    ctx.addIssue({ code: 'custom', path: ['http', config.http.tlsCert ? 'tlsKey' : 'tlsCert'], message: 'tlsCert and tlsKey go together' });
  }
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Overrides from the command line, applied over the file. */
export interface ConfigOverrides {
  dataDir?: string;
  inboxes?: string[];
  httpPort?: number;
  mqttUrl?: string;
  deviceId?: string;
}

export function parseConfig(raw: unknown, source: string): Config {
  const parsed = configSchema.safeParse(raw ?? {});
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.flatMap((issue) => {
    const at = issue.path.join('.');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `  ${at ? `${at}.` : ''}${key}: unknown key`);
    return [`  ${at || '(top level)'}: ${issue.message}`];
  });
  throw new ConfigError(`invalid configuration in ${source}:\n${lines.join('\n')}`);
}

/** Reads the file (YAML or JSON by extension), applies overrides, validates; relative paths resolve against the file's folder. */
export function loadConfig(file: string | null, overrides: ConfigOverrides = {}): Config {
  let raw: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read configuration ${file}: ${(e as Error).message}`);
    }
    try {
      raw = (file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text)) ?? {};
    } catch (e) {
      throw new ConfigError(`configuration ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`configuration ${file} must be a mapping of keys`);
  }
  const config = parseConfig(applyOverrides(raw, overrides), file ?? 'defaults');
  const base = file ? path.dirname(path.resolve(file)) : process.cwd();
  config.dataDir = path.resolve(base, config.dataDir);
  config.inboxes = config.inboxes.map((inbox) => path.resolve(base, inbox));
  for (const key of ['ca', 'cert', 'key'] as const) if (config.mqtt[key]) config.mqtt[key] = path.resolve(base, config.mqtt[key]);
  if (config.ota.rootFile) config.ota.rootFile = path.resolve(base, config.ota.rootFile);
  return config;
}

function applyOverrides(raw: Record<string, unknown>, o: ConfigOverrides): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  if (o.dataDir) out.dataDir = o.dataDir;
  if (o.inboxes?.length) out.inboxes = o.inboxes;
  if (o.httpPort !== undefined) out.http = { ...(raw.http as object), port: o.httpPort };
  if (o.mqttUrl || o.deviceId) out.mqtt = { ...(raw.mqtt as object), ...(o.mqttUrl && { url: o.mqttUrl }), ...(o.deviceId && { deviceId: o.deviceId }) };
  return out;
}

/** The demo's embedded defaults: everything under ./var, dashboard on localhost. */
export function demoConfig(root: string, overrides: ConfigOverrides = {}): Config {
  const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as ConfigOverrides;
  return loadConfig(null, {
    dataDir: path.join(root, 'var'),
    inboxes: [path.join(root, given.dataDir ?? 'var', 'inbox')],
    ...given,
  });
}
