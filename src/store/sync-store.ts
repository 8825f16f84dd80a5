import type { Store } from './store.ts';
import type { EventRow, OutboxMessage, OutboxRow } from './types.ts';

/** 'normal' (results, events) goes first; 'bulk' (second-opinion packages) waits for the upload windows. */
export type OutboxLane = 'normal' | 'bulk';

export interface LaneOutboxRow extends OutboxRow {
  lane: OutboxLane;
  secondOpinionId: number | null;
}

export type SecondOpinionState = 'queued' | 'sending' | 'sent' | 'answered';

export interface SecondOpinionRow {
  id: number;
  requestId: string;
  slideId: number;
  resultId: number;
  note: string | null;
  requestedBy: string;
  state: SecondOpinionState;
  packageBytes: number;
  packageSha256: string;
  partsTotal: number;
  partsSent: number;
  requestedAt: string;
  sentAt: string | null;
  answeredAt: string | null;
  response: unknown;
}

export interface NewSecondOpinion {
  requestId: string;
  slideId: number;
  resultId: number;
  note: string | null;
  requestedBy: string;
  packageBytes: number;
  packageSha256: string;
}

export interface SlideBytesRow {
  slideId: number;
  sha256: string;
  sizeBytes: number;
  resultBytes: number;
  secondOpinionBytes: number;
  messages: number;
}

const OUTBOX_COLUMNS = `id, topic, payload, idempotency_key AS idempotencyKey, slide_id AS slideId, created_at AS createdAt,
  attempts, lane, second_opinion_id AS secondOpinionId`;
const SECOND_OPINION_COLUMNS = `id, request_id AS requestId, slide_id AS slideId, result_id AS resultId, note, requested_by AS requestedBy,
  state, package_bytes AS packageBytes, package_sha256 AS packageSha256, parts_total AS partsTotal, parts_sent AS partsSent,
  requested_at AS requestedAt, sent_at AS sentAt, answered_at AS answeredAt, response_json AS responseJson`;
const EVENTS_CURSOR = 'events.relayed-through';
const DEVICE_ID = 'device-id';
/** Minute buckets older than this are pruned (the budget looks back one hour). */
const LEDGER_KEEP_MINUTES = 120;

const isoNow = () => new Date().toISOString();

function secondOpinion(row: unknown): SecondOpinionRow {
  const { responseJson, ...rest } = row as Omit<SecondOpinionRow, 'response'> & { responseJson: string | null };
  return { ...rest, response: responseJson === null ? null : JSON.parse(responseJson) };
}

/**
 * The sync stage's tables (migration 004) on the box's one database: outbox lanes, second opinions,
 * bytes sent per slide and per minute, cloud receipts. Each change is one transaction.
 */
export class SyncStore {
  readonly store: Store;

  constructor(store: Store) {
    this.store = store;
  }

  private get db() {
    return this.store.db;
  }

  // ---- outbox lanes -------------------------------------------------------------------------------

  /**
   * The oldest messages of a lane, in order. Ids are SQLite rowids: a new row always gets an id above
   * every row present (not above every row ever), so id order is queue order but no id is a cursor.
   */
  headOfLane(lane: OutboxLane, limit: number): LaneOutboxRow[] {
    return this.db.prepare(`SELECT ${OUTBOX_COLUMNS} FROM outbox WHERE lane = ? ORDER BY id LIMIT ?`).all(lane, limit) as LaneOutboxRow[];
  }

  laneDepths(): Record<OutboxLane, number> {
    const depths: Record<OutboxLane, number> = { normal: 0, bulk: 0 };
    for (const row of this.db.prepare('SELECT lane, COUNT(*) AS n FROM outbox GROUP BY lane').all() as { lane: OutboxLane; n: number }[]) depths[row.lane] = row.n;
    return depths;
  }

  oldestWaitingSince(): string | null {
    return (this.db.prepare('SELECT MIN(created_at) AS at FROM outbox').get() as { at: string | null }).at;
  }

  /**
   * After the broker's PUBACK: the row goes, its bytes are counted (per minute for the budget, per slide
   * for the reduction figure) and its package advances, all at once. A row already gone counts nothing.
   */
  settleAcknowledged(row: LaneOutboxRow, bytes: number, at = Date.now()): boolean {
    return this.db.transaction(() => {
      if (this.db.prepare('DELETE FROM outbox WHERE id = ?').run(row.id).changes === 0) return false;
      this.countBytes(bytes, at);
      if (row.slideId !== null) {
        const column = row.secondOpinionId === null ? 'result_bytes' : 'second_opinion_bytes';
        this.db.prepare(`INSERT INTO slide_bytes_sent (slide_id, ${column}, messages) VALUES (?, ?, 1)
          ON CONFLICT (slide_id) DO UPDATE SET ${column} = ${column} + excluded.${column}, messages = messages + 1`).run(row.slideId, bytes);
      }
      if (row.secondOpinionId !== null) this.advancePackage(row.secondOpinionId);
      return true;
    })();
  }

  private advancePackage(id: number): void {
    this.db.prepare(`UPDATE second_opinions SET parts_sent = parts_sent + 1,
      state = CASE WHEN state = 'answered' THEN 'answered' WHEN parts_sent + 1 >= parts_total THEN 'sent' ELSE 'sending' END,
      sent_at = CASE WHEN parts_sent + 1 >= parts_total THEN ? ELSE sent_at END WHERE id = ?`).run(isoNow(), id);
    const request = this.getSecondOpinion(id)!;
    if (request.partsSent === request.partsTotal) {
      this.store.logEvent('sync', 'second-opinion.sent', `slide:${request.slideId}`, { requestId: request.requestId, bytes: request.packageBytes });
    }
  }

  /** Bytes published outside the outbox (telemetry, status) still count against the budget. */
  countBytes(bytes: number, at = Date.now()): void {
    const minute = Math.floor(at / 60_000);
    this.db.prepare('INSERT INTO sync_bytes_minute (minute, bytes) VALUES (?, ?) ON CONFLICT (minute) DO UPDATE SET bytes = bytes + excluded.bytes').run(minute, bytes);
    this.db.prepare('DELETE FROM sync_bytes_minute WHERE minute < ?').run(minute - LEDGER_KEEP_MINUTES);
  }

  /** Bytes published in the minutes that started at or after `sinceMs`, and the oldest such minute. */
  bytesSince(sinceMs: number): { bytes: number; oldestMinuteMs: number | null } {
    const row = this.db.prepare('SELECT COALESCE(SUM(bytes), 0) AS bytes, MIN(minute) AS oldest FROM sync_bytes_minute WHERE minute >= ?')
      .get(Math.floor(sinceMs / 60_000)) as { bytes: number; oldest: number | null };
    return { bytes: row.bytes, oldestMinuteMs: row.oldest === null ? null : row.oldest * 60_000 };
  }

  /**
   * The broker refused a message (a reason code, not a lost connection). After `maxAttempts` refusals it
   * moves to outbox_refused, with an audit event, so one bad message cannot block its lane forever.
   */
  recordRefusal(row: LaneOutboxRow, reason: string, maxAttempts: number): 'retry' | 'set-aside' {
    return this.db.transaction(() => {
      this.db.prepare('UPDATE outbox SET attempts = attempts + 1 WHERE id = ?').run(row.id);
      const attempts = (this.db.prepare('SELECT attempts FROM outbox WHERE id = ?').get(row.id) as { attempts: number } | undefined)?.attempts ?? 0;
      if (attempts < maxAttempts) return 'retry';
      this.db.prepare(`INSERT OR REPLACE INTO outbox_refused (id, topic, payload, idempotency_key, slide_id, reason)
        SELECT id, topic, payload, idempotency_key, slide_id, ? FROM outbox WHERE id = ?`).run(reason, row.id);
      this.db.prepare('DELETE FROM outbox WHERE id = ?').run(row.id);
      this.store.logEvent('sync', 'sync.refused', row.slideId === null ? null : `slide:${row.slideId}`, { idempotencyKey: row.idempotencyKey, reason });
      return 'set-aside';
    })();
  }

  refusedCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM outbox_refused').get() as { n: number }).n;
  }

  // ---- audit events relayed to the cloud ------------------------------------------------------------

  /**
   * Turns audit events newer than the relay's cursor into outbox messages and advances the cursor, in
   * one transaction (exactly once into the outbox, even across a crash). The first run starts at the
   * newest event: history before sync was configured stays on the box.
   */
  relayEvents(toMessages: (events: EventRow[]) => OutboxMessage[], limit = 200): number {
    return this.db.transaction(() => {
      const stored = this.db.prepare('SELECT value FROM sync_state WHERE key = ?').get(EVENTS_CURSOR) as { value: string } | undefined;
      const newest = (this.db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM events').get() as { id: number }).id;
      if (!stored) {
        this.setState(EVENTS_CURSOR, String(newest));
        return 0;
      }
      const rows = this.db.prepare('SELECT id, at, actor, kind, subject, details FROM events WHERE id > ? ORDER BY id LIMIT ?').all(Number(stored.value), limit) as EventRow[];
      if (rows.length === 0) return 0;
      const messages = toMessages(rows);
      for (const message of messages) this.store.enqueueOutbox(message);
      this.setState(EVENTS_CURSOR, String(rows.at(-1)!.id));
      return messages.length;
    })();
  }

  /** The device id the daemon last synced as, so the command line queues under the same topics. */
  rememberDeviceId(deviceId: string): void {
    this.setState(DEVICE_ID, deviceId);
  }

  deviceId(): string | null {
    return (this.db.prepare('SELECT value FROM sync_state WHERE key = ?').get(DEVICE_ID) as { value: string } | undefined)?.value ?? null;
  }

  private setState(key: string, value: string): void {
    this.db.prepare('INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  // ---- second opinions ----------------------------------------------------------------------------

  /** Records a request and queues its package parts (bulk lane, in order) in one transaction. */
  addSecondOpinion(request: NewSecondOpinion, parts: OutboxMessage[]): SecondOpinionRow {
    return this.db.transaction(() => {
      const info = this.db.prepare(`INSERT INTO second_opinions (request_id, slide_id, result_id, note, requested_by, state, package_bytes, package_sha256, parts_total)
        VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)`).run(request.requestId, request.slideId, request.resultId, request.note, request.requestedBy,
        request.packageBytes, request.packageSha256, parts.length);
      const id = Number(info.lastInsertRowid);
      const insert = this.db.prepare("INSERT INTO outbox (topic, payload, idempotency_key, slide_id, lane, second_opinion_id) VALUES (?, ?, ?, ?, 'bulk', ?)");
      for (const part of parts) insert.run(part.topic, typeof part.payload === 'string' ? Buffer.from(part.payload) : part.payload, part.idempotencyKey, request.slideId, id);
      this.store.logEvent(request.requestedBy, 'second-opinion.requested', `slide:${request.slideId}`, { requestId: request.requestId, bytes: request.packageBytes, parts: parts.length });
      return this.getSecondOpinion(id)!;
    })();
  }

  getSecondOpinion(id: number): SecondOpinionRow | undefined {
    const row = this.db.prepare(`SELECT ${SECOND_OPINION_COLUMNS} FROM second_opinions WHERE id = ?`).get(id);
    return row ? secondOpinion(row) : undefined;
  }

  secondOpinionByRequestId(requestId: string): SecondOpinionRow | undefined {
    const row = this.db.prepare(`SELECT ${SECOND_OPINION_COLUMNS} FROM second_opinions WHERE request_id = ?`).get(requestId);
    return row ? secondOpinion(row) : undefined;
  }

  listSecondOpinions(options: { slideId?: number; limit?: number } = {}): SecondOpinionRow[] {
    const rows = options.slideId === undefined
      ? this.db.prepare(`SELECT ${SECOND_OPINION_COLUMNS} FROM second_opinions ORDER BY id DESC LIMIT ?`).all(options.limit ?? 50)
      : this.db.prepare(`SELECT ${SECOND_OPINION_COLUMNS} FROM second_opinions WHERE slide_id = ? ORDER BY id DESC LIMIT ?`).all(options.slideId, options.limit ?? 50);
    return rows.map(secondOpinion);
  }

  /**
   * Stores the expert's answer against the request (and so the slide). A repeated delivery of the same
   * answer changes nothing; returns null for a request this box never made.
   */
  recordResponse(requestId: string, response: { idempotencyKey: string }): { request: SecondOpinionRow; duplicate: boolean } | null {
    return this.db.transaction(() => {
      const request = this.secondOpinionByRequestId(requestId);
      if (!request) return null;
      const previous = request.response as { idempotencyKey?: string } | null;
      if (previous?.idempotencyKey === response.idempotencyKey) return { request, duplicate: true };
      this.db.prepare("UPDATE second_opinions SET state = 'answered', answered_at = ?, response_json = ? WHERE id = ?").run(isoNow(), JSON.stringify(response), request.id);
      this.store.logEvent('sync', 'second-opinion.answered', `slide:${request.slideId}`, { requestId });
      return { request: this.getSecondOpinion(request.id)!, duplicate: false };
    })();
  }

  // ---- the cloud's receipts and the reduction figures ------------------------------------------------

  recordCloudReceipt(idempotencyKey: string): void {
    this.db.prepare('INSERT OR IGNORE INTO cloud_receipts (idempotency_key) VALUES (?)').run(idempotencyKey);
  }

  cloudReceiptCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM cloud_receipts').get() as { n: number }).n;
  }

  /** Bytes sent about all slides together, beside their files' total size. */
  slideBytesTotal(): { slides: number; sizeBytes: number; resultBytes: number; secondOpinionBytes: number } {
    return this.db.prepare(`SELECT COUNT(*) AS slides, COALESCE(SUM(s.size_bytes), 0) AS sizeBytes, COALESCE(SUM(b.result_bytes), 0) AS resultBytes,
      COALESCE(SUM(b.second_opinion_bytes), 0) AS secondOpinionBytes FROM slide_bytes_sent b JOIN slides s ON s.id = b.slide_id`).get() as
      { slides: number; sizeBytes: number; resultBytes: number; secondOpinionBytes: number };
  }

  /** Bytes sent about each slide beside the slide file's size, most recent slides first. */
  slideBytes(limit = 50): SlideBytesRow[] {
    return this.db.prepare(`SELECT b.slide_id AS slideId, s.sha256, s.size_bytes AS sizeBytes, b.result_bytes AS resultBytes,
      b.second_opinion_bytes AS secondOpinionBytes, b.messages FROM slide_bytes_sent b JOIN slides s ON s.id = b.slide_id
      ORDER BY b.slide_id DESC LIMIT ?`).all(limit) as SlideBytesRow[];
  }
}
