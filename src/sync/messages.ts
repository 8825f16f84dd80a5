import { z } from 'zod';
import type { AnalysisResult } from '../analysis/index.ts';
import type { EventRow, OutboxMessage } from '../store/index.ts';
import type { PackageManifest } from './wire.ts';

/** MQTT topics of one box (docs/mqtt.md describes each payload). */
export function topics(deviceId: string) {
  const base = `pathbox/v1/${deviceId}`;
  return {
    status: `${base}/status`,
    telemetry: `${base}/telemetry`,
    results: `${base}/results`,
    resultsAck: `${base}/results/ack`,
    events: `${base}/events`,
    secondOpinionRequest: `${base}/second-opinion/request`,
    secondOpinionResponse: `${base}/second-opinion/response`,
    otaStatus: `${base}/ota/status`,
    /** Update nudges: the fleet-wide retained announcement and this box's own commands (never trusted by themselves). */
    otaFleet: 'pathbox/v1/fleet/ota',
    otaCommand: `${base}/ota/command`,
  };
}

/**
 * The result as it may leave the box: an explicit allow-list of fields, keyed by the slide's SHA-256.
 * Nothing from the file name, path, slide description, label or macro can get in, because nothing is
 * copied that is not named here.
 */
export function deidentifiedResult(result: AnalysisResult): object {
  return {
    slide: { sha256: result.slide.sha256, width: result.slide.width, height: result.slide.height, mpp: result.slide.mpp, mppSource: result.slide.mppSource },
    model: { ...result.model },
    tissue: { ...result.tissue },
    tiles: { total: result.tiles.total, analyzed: result.tiles.analyzed },
    finding: { label: result.finding.label, score: result.finding.score, positive: result.finding.positive },
    rois: result.rois.map((r) => ({ x: r.x, y: r.y, width: r.width, height: r.height, score: r.score })),
    timings: { ...result.timings },
    status: result.status,
  };
}

export function resultMessage(deviceId: string, jobId: number, slideId: number, result: AnalysisResult, analysedAt: string): OutboxMessage {
  const idempotencyKey = `result:${result.slide.sha256}:${jobId}`;
  return {
    topic: topics(deviceId).results,
    payload: JSON.stringify({ type: 'result', idempotencyKey, deviceId, analysedAt, result: deidentifiedResult(result) }),
    idempotencyKey,
    slideId,
  };
}

/**
 * Audit events the cloud hears about, by kind only: their details (free text that can name a file or a
 * path) stay on the box; a slide is named by its SHA-256.
 */
export const RELAYED_EVENT_KINDS = new Set([
  'daemon.start', 'daemon.stop', 'slide.added', 'slide.rejected', 'job.failed', 'job.quarantined', 'disk.paused', 'disk.resumed',
  'second-opinion.requested', 'second-opinion.sent', 'second-opinion.answered', 'sync.refused',
]);

export function eventMessages(deviceId: string, events: EventRow[], slideSha256: (slideId: number) => string | undefined): OutboxMessage[] {
  return events.filter((e) => RELAYED_EVENT_KINDS.has(e.kind)).map((e) => {
    const slideId = /^slide:(\d+)$/.exec(e.subject ?? '')?.[1];
    const idempotencyKey = `event:${deviceId}:${e.id}`;
    const sha256 = slideId === undefined ? null : (slideSha256(Number(slideId)) ?? null);
    return {
      topic: topics(deviceId).events,
      payload: JSON.stringify({ type: 'event', idempotencyKey, deviceId, at: e.at, kind: e.kind, slideSha256: sha256 }),
      idempotencyKey,
      ...(slideId !== undefined && sha256 !== null && { slideId: Number(slideId) }),
    };
  });
}

/** The retained status (and, with state "offline", the last will). */
export function statusPayload(deviceId: string, state: 'online' | 'offline', reason: string, software: string): string {
  return JSON.stringify({ type: 'status', deviceId, state, reason, at: new Date().toISOString(), software });
}

export interface SecondOpinionRequestPayload {
  type: 'second-opinion.request';
  idempotencyKey: string;
  requestId: string;
  deviceId: string;
  requestedAt: string;
  note: string | null;
  slide: { sha256: string; width: number; height: number; mpp: [number, number] };
  result: object;
  package: PackageManifest & { chunkBytes: number; chunks: number };
}

// ---- cloud -> box ---------------------------------------------------------------------------------

/** An expert's answer; unknown fields are dropped, so only these are ever stored. */
export const secondOpinionResponseSchema = z.object({
  type: z.literal('second-opinion.response'),
  idempotencyKey: z.string().min(1).max(200),
  requestId: z.string().min(1).max(100),
  respondedAt: z.string().min(1).max(40),
  expert: z.string().max(200).optional(),
  opinion: z.string().min(1).max(20_000),
  diagnosis: z.string().max(2000).optional(),
  agreesWithFinding: z.boolean().optional(),
});
export type SecondOpinionResponse = z.infer<typeof secondOpinionResponseSchema>;

/** The cloud's end-to-end receipt of a result (the broker's PUBACK only says the broker has it). */
export const resultAckSchema = z.object({
  type: z.literal('result.ack'),
  idempotencyKey: z.string().min(1).max(200),
});
