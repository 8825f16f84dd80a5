import type { AnalysisResult } from '../analysis/index.ts';
import type { OutboxMessage } from '../store/index.ts';

/** MQTT topics of one box (docs/mqtt.md describes each payload). */
export function topics(deviceId: string) {
  const base = `pathbox/v1/${deviceId}`;
  return {
    status: `${base}/status`,
    telemetry: `${base}/telemetry`,
    results: `${base}/results`,
    events: `${base}/events`,
    secondOpinionRequest: `${base}/second-opinion/request`,
    secondOpinionResponse: `${base}/second-opinion/response`,
    otaStatus: `${base}/ota/status`,
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
