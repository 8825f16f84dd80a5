import { createHash } from 'node:crypto';
import type { AnalysisResult } from '../../analysis/index.ts';
import type { ResultRow, ReviewRow, SignOutRow, SlideRow } from '../../store/index.ts';

/** The latest decision per target ('slide', 'roi:N'): earlier ones are history. */
export function latestDecisions(reviews: ReviewRow[]): Map<string, ReviewRow> {
  const latest = new Map<string, ReviewRow>();
  for (const review of reviews) latest.set(review.target, review);
  return latest;
}

interface RoiFeature {
  properties?: { measurements?: { rank?: number } } & Record<string, unknown>;
}

/**
 * The analysis' QuPath GeoJSON with the pathologist's decision on each region added to its properties
 * (QuPath keeps unknown properties), so an export carries what was confirmed or rejected.
 */
export function reviewedRoisGeoJson(geojson: object, reviews: ReviewRow[]): object {
  const decisions = latestDecisions(reviews);
  const collection = geojson as { features?: RoiFeature[] };
  return {
    ...geojson,
    features: (collection.features ?? []).map((feature, index) => {
      const rank = feature.properties?.measurements?.rank;
      const review = decisions.get(`roi:${typeof rank === 'number' ? rank - 1 : index}`);
      if (!review) return feature;
      return { ...feature, properties: { ...feature.properties, review: { decision: review.decision, label: review.amendedLabel, by: review.reviewer, at: review.createdAt } } };
    }),
  };
}

/** Deterministic urn:uuid from a name, so the same report exports with the same resource ids. */
function uuidFor(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export interface FhirInput {
  slide: SlideRow;
  row: ResultRow;
  result: AnalysisResult;
  reviews: ReviewRow[];
  signOut: SignOutRow | null;
  hospitalName: string;
}

const decisionText = { confirm: 'confirmed', reject: 'rejected', amend: 'amended' } as const;

/**
 * A FHIR R4 Bundle (type collection) with one DiagnosticReport and the AI finding as its Observation.
 * There is no Patient: identity stays on the slide's label inside the hospital; the LIS joins on the
 * slide identifier (its SHA-256). Status follows sign-out: preliminary until a pathologist signs.
 */
export function fhirBundle({ slide, row, result, reviews, signOut, hospitalName }: FhirInput): object {
  const status = signOut ? 'final' : 'preliminary';
  const reportId = uuidFor(`report:${slide.sha256}:${row.id}`);
  const observationId = uuidFor(`observation:${slide.sha256}:${row.id}`);
  const slideIdentifier = { system: 'urn:pathbox:slide-sha256', value: slide.sha256 };
  const model = `${result.model.id} ${result.model.version} (${result.model.digest})`;
  const slideReview = latestDecisions(reviews).get('slide');
  const notes = [
    ...(slideReview ? [{ text: `AI finding ${decisionText[slideReview.decision]} by ${slideReview.reviewer} at ${slideReview.createdAt}${slideReview.amendedLabel ? `: ${slideReview.amendedLabel}` : ''}${slideReview.comment ? ` (${slideReview.comment})` : ''}` }] : []),
    ...(result.model.researchOnly ? [{ text: 'The model is marked for research use only.' }] : []),
  ];
  const observation = {
    resourceType: 'Observation',
    id: observationId,
    status,
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory', display: 'Laboratory' }] }],
    code: { coding: [{ system: 'urn:pathbox:model', code: result.model.id, display: `AI finding (${result.model.id})` }], text: `AI finding: ${result.finding.label}` },
    identifier: [slideIdentifier],
    effectiveDateTime: row.createdAt,
    valueQuantity: { value: result.finding.score, unit: 'score', system: 'http://unitsofmeasure.org', code: '1' },
    interpretation: [{
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: result.finding.positive ? 'POS' : 'NEG', display: result.finding.positive ? 'Positive' : 'Negative' }],
    }],
    method: { text: `${result.finding.method} over ${result.tiles.analyzed} tiles; model ${model}` },
    device: { display: `pathbox ${model}` },
    component: result.rois.map((roi, i) => ({
      code: { text: `region ${i + 1} score (x ${roi.x}, y ${roi.y}, ${roi.width} x ${roi.height} level-0 px)` },
      valueQuantity: { value: roi.score, unit: 'score', system: 'http://unitsofmeasure.org', code: '1' },
    })),
    ...(notes.length ? { note: notes } : {}),
  };
  const conclusion = signOut?.conclusion ?? (slideReview?.amendedLabel ? `${slideReview.amendedLabel} (amended, not signed out)` : `${result.finding.label} (AI, not signed out)`);
  const report = {
    resourceType: 'DiagnosticReport',
    id: reportId,
    identifier: [slideIdentifier],
    status,
    category: [{ coding: [{ system: 'http://loinc.org', code: 'LP7839-6', display: 'Pathology' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '11526-1', display: 'Pathology study' }], text: 'Whole-slide image analysis' },
    effectiveDateTime: row.createdAt,
    issued: signOut?.signedAt ?? row.createdAt,
    performer: [{ display: hospitalName }],
    ...(signOut ? { resultsInterpreter: [{ display: signOut.reviewer }] } : {}),
    result: [{ reference: `urn:uuid:${observationId}` }],
    conclusion,
  };
  return {
    resourceType: 'Bundle',
    type: 'collection',
    timestamp: new Date().toISOString(),
    entry: [
      { fullUrl: `urn:uuid:${reportId}`, resource: report },
      { fullUrl: `urn:uuid:${observationId}`, resource: observation },
    ],
  };
}
