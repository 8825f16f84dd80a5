/** Rows of the store as the other stages see them (camelCase, parsed). */

export type SlideState = 'queued' | 'running' | 'done' | 'failed' | 'rejected';
export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'quarantined';

export interface SlideRow {
  id: number;
  sha256: string;
  path: string;
  sizeBytes: number;
  state: SlideState;
  priority: number;
  vendor: string | null;
  width: number | null;
  height: number | null;
  mppX: number | null;
  mppY: number | null;
  objectivePower: number | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface JobRow {
  id: number;
  slideId: number;
  kind: string;
  state: JobState;
  priority: number;
  attempts: number;
  maxAttempts: number;
  interruptions: number;
  notBefore: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
  progressDone: number;
  progressTotal: number;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface ResultRow {
  id: number;
  slideId: number;
  jobId: number;
  modelId: string;
  modelVersion: string;
  modelDigest: string;
  modelRelease: number | null;
  findingLabel: string | null;
  findingScore: number | null;
  status: 'preliminary' | 'final';
  result: unknown;
  outputDir: string | null;
  createdAt: string;
}

export interface EventRow {
  id: number;
  at: string;
  actor: string;
  kind: string;
  subject: string | null;
  details: unknown;
}

export interface OutboxMessage {
  topic: string;
  payload: Buffer | string;
  idempotencyKey: string;
  slideId?: number;
}

export interface OutboxRow {
  id: number;
  topic: string;
  payload: Buffer;
  idempotencyKey: string;
  slideId: number | null;
  createdAt: string;
  attempts: number;
}
