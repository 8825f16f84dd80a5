import type { Db } from './database.ts';
import type { Store } from './store.ts';
import type { SlideState } from './types.ts';

/** The dashboard's part of the store: accounts, sessions, reviews, sign-outs and the worklist view. */

export const ROLES = ['admin', 'pathologist', 'technician'] as const;
export type Role = (typeof ROLES)[number];
export type ReviewDecision = 'confirm' | 'reject' | 'amend';

export interface UserRow {
  id: number;
  username: string;
  role: Role;
  passwordHash: string;
  disabled: boolean;
  createdAt: string;
}

export interface SessionRow {
  tokenHash: string;
  csrfToken: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  user: Pick<UserRow, 'id' | 'username' | 'role'>;
}

export interface ReviewRow {
  id: number;
  slideId: number;
  resultId: number;
  /** 'slide' or 'roi:N' (N = the region's index in the result, 0-based). */
  target: string;
  decision: ReviewDecision;
  amendedLabel: string | null;
  comment: string | null;
  reviewer: string;
  createdAt: string;
}

export interface SignOutRow {
  resultId: number;
  slideId: number;
  reviewer: string;
  conclusion: string;
  signedAt: string;
}

/** One line of the worklist: the slide, its running job, its latest result and what was decided about it. */
export interface WorklistRow {
  id: number;
  name: string;
  sha256: string;
  state: SlideState;
  priority: number;
  vendor: string | null;
  width: number | null;
  height: number | null;
  sizeBytes: number;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  progress: { done: number; total: number } | null;
  result: { id: number; findingLabel: string | null; findingScore: number | null; positive: boolean | null; status: 'preliminary' | 'final' } | null;
  review: { decision: ReviewDecision; amendedLabel: string | null; reviewer: string; at: string } | null;
  signOut: { reviewer: string; at: string } | null;
}

export class WebStoreError extends Error {
  readonly code: 'NOT_FOUND' | 'CONFLICT';
  constructor(code: WebStoreError['code'], message: string) {
    super(message);
    this.name = 'WebStoreError';
    this.code = code;
  }
}

const now = () => new Date().toISOString();

const WORKLIST_SQL = `
  SELECT s.id, s.path, s.sha256, s.state, s.priority, s.vendor, s.width, s.height, s.size_bytes, s.error, s.created_at, s.updated_at,
    j.progress_done, j.progress_total,
    r.id AS result_id, r.finding_label, r.finding_score, r.status AS result_status,
    json_extract(r.result_json, '$.finding.positive') AS positive,
    rv.decision, rv.amended_label, rv.reviewer AS review_by, rv.created_at AS review_at,
    so.reviewer AS signed_by, so.signed_at
  FROM slides s
  LEFT JOIN jobs j ON j.slide_id = s.id AND j.state = 'running'
  LEFT JOIN results r ON r.id = (SELECT MAX(id) FROM results WHERE slide_id = s.id)
  LEFT JOIN reviews rv ON rv.id = (SELECT MAX(id) FROM reviews WHERE result_id = r.id AND target = 'slide')
  LEFT JOIN sign_outs so ON so.result_id = r.id`;

interface WorklistSqlRow {
  id: number; path: string; sha256: string; state: SlideState; priority: number; vendor: string | null; width: number | null;
  height: number | null; size_bytes: number; error: string | null; created_at: string; updated_at: string;
  progress_done: number | null; progress_total: number | null; result_id: number | null; finding_label: string | null;
  finding_score: number | null; result_status: 'preliminary' | 'final' | null; positive: number | null;
  decision: ReviewDecision | null; amended_label: string | null; review_by: string | null; review_at: string | null;
  signed_by: string | null; signed_at: string | null;
}

function worklistRow(r: WorklistSqlRow): WorklistRow {
  return {
    id: r.id, name: r.path.split(/[\\/]/).filter(Boolean).at(-1) ?? r.path, sha256: r.sha256, state: r.state, priority: r.priority,
    vendor: r.vendor, width: r.width, height: r.height, sizeBytes: r.size_bytes, error: r.error, createdAt: r.created_at, updatedAt: r.updated_at,
    progress: r.progress_total === null ? null : { done: r.progress_done ?? 0, total: r.progress_total },
    result: r.result_id === null ? null : {
      id: r.result_id, findingLabel: r.finding_label, findingScore: r.finding_score,
      positive: r.positive === null ? null : r.positive === 1, status: r.result_status ?? 'preliminary',
    },
    review: r.decision === null ? null : { decision: r.decision, amendedLabel: r.amended_label, reviewer: r.review_by!, at: r.review_at! },
    signOut: r.signed_by === null ? null : { reviewer: r.signed_by, at: r.signed_at! },
  };
}

export class WebStore {
  private readonly store: Store;
  private readonly db: Db;

  constructor(store: Store) {
    this.store = store;
    this.db = store.db;
  }

  // ---- users --------------------------------------------------------------------------------------

  addUser(username: string, role: Role, passwordHash: string, actor: string): UserRow {
    return this.db.transaction(() => {
      if (this.findUser(username)) throw new WebStoreError('CONFLICT', `user "${username}" already exists`);
      const info = this.db.prepare('INSERT INTO users (username, role, password_hash) VALUES (?, ?, ?)').run(username, role, passwordHash);
      this.store.logEvent(actor, 'user.added', `user:${username}`, { role });
      return this.getUser(Number(info.lastInsertRowid))!;
    })();
  }

  /** Replaces a password and ends the user's sessions (a changed password must lock out old cookies). */
  setPassword(userId: number, passwordHash: string, actor: string): void {
    this.db.transaction(() => {
      const user = this.getUser(userId);
      if (!user) throw new WebStoreError('NOT_FOUND', `no user ${userId}`);
      this.db.prepare('UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?').run(passwordHash, now(), userId);
      this.db.prepare('DELETE FROM sessions WHERE user_id = ?').run(userId);
      this.store.logEvent(actor, 'user.password-set', `user:${user.username}`, {});
    })();
  }

  findUser(username: string): UserRow | undefined {
    const row = this.db.prepare('SELECT * FROM users WHERE username = ?').get(username);
    return row ? userRow(row) : undefined;
  }

  getUser(id: number): UserRow | undefined {
    const row = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id);
    return row ? userRow(row) : undefined;
  }

  listUsers(): Omit<UserRow, 'passwordHash'>[] {
    return this.db.prepare('SELECT * FROM users ORDER BY username').all().map((r) => {
      const { passwordHash: _, ...rest } = userRow(r);
      return rest;
    });
  }

  countUsers(role?: Role): number {
    const row = role
      ? this.db.prepare('SELECT COUNT(*) AS n FROM users WHERE role = ? AND disabled = 0').get(role)
      : this.db.prepare('SELECT COUNT(*) AS n FROM users').get();
    return (row as { n: number }).n;
  }

  // ---- sessions -----------------------------------------------------------------------------------

  createSession(tokenHash: string, userId: number, csrfToken: string, expiresAt: string, client: string): void {
    this.db.prepare('INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at, client) VALUES (?, ?, ?, ?, ?)')
      .run(tokenHash, userId, csrfToken, expiresAt, client);
  }

  /** The live session of an enabled user, or undefined (expired sessions are never returned). */
  findSession(tokenHash: string, at = now()): SessionRow | undefined {
    const row = this.db.prepare(`SELECT s.token_hash, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, u.id, u.username, u.role
      FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0`).get(tokenHash, at) as
      { token_hash: string; csrf_token: string; created_at: string; last_seen_at: string; expires_at: string; id: number; username: string; role: Role } | undefined;
    if (!row) return undefined;
    return {
      tokenHash: row.token_hash, csrfToken: row.csrf_token, createdAt: row.created_at, lastSeenAt: row.last_seen_at, expiresAt: row.expires_at,
      user: { id: row.id, username: row.username, role: row.role },
    };
  }

  touchSession(tokenHash: string, expiresAt: string): void {
    this.db.prepare('UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?').run(now(), expiresAt, tokenHash);
  }

  deleteSession(tokenHash: string): void {
    this.db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(tokenHash);
  }

  purgeExpiredSessions(at = now()): number {
    return this.db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(at).changes;
  }

  // ---- worklist -----------------------------------------------------------------------------------

  /** Urgent first, then newest. */
  worklist(limit = 1000): WorklistRow[] {
    return (this.db.prepare(`${WORKLIST_SQL} ORDER BY s.priority DESC, s.id DESC LIMIT ?`).all(limit) as WorklistSqlRow[]).map(worklistRow);
  }

  worklistRows(ids: number[]): WorklistRow[] {
    if (ids.length === 0) return [];
    return (this.db.prepare(`${WORKLIST_SQL} WHERE s.id IN (${ids.map(() => '?').join(',')})`).all(...ids) as WorklistSqlRow[]).map(worklistRow);
  }

  /** What changed since the last look, for live updates: slides touched since `since`, and running jobs' progress. */
  changesSince(since: string): { touched: { id: number; updatedAt: string }[]; running: { slideId: number; done: number; total: number }[] } {
    return {
      touched: (this.db.prepare('SELECT id, updated_at FROM slides WHERE updated_at >= ?').all(since) as { id: number; updated_at: string }[])
        .map((r) => ({ id: r.id, updatedAt: r.updated_at })),
      running: (this.db.prepare("SELECT slide_id, progress_done, progress_total FROM jobs WHERE state = 'running'").all() as
        { slide_id: number; progress_done: number; progress_total: number }[]).map((r) => ({ slideId: r.slide_id, done: r.progress_done, total: r.progress_total })),
    };
  }

  // ---- reviews and sign-out ------------------------------------------------------------------------

  addReview(review: { slideId: number; resultId: number; target: string; decision: ReviewDecision; amendedLabel: string | null; comment: string | null; user: { id: number; username: string } }): ReviewRow {
    return this.db.transaction(() => {
      this.assertOpenResult(review.slideId, review.resultId);
      const info = this.db.prepare(`INSERT INTO reviews (slide_id, result_id, target, decision, amended_label, comment, user_id, reviewer)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(review.slideId, review.resultId, review.target, review.decision, review.amendedLabel, review.comment,
        review.user.id, review.user.username);
      this.db.prepare('UPDATE slides SET updated_at = ? WHERE id = ?').run(now(), review.slideId);
      this.store.logEvent(review.user.username, `review.${review.decision}`, `slide:${review.slideId}`,
        { resultId: review.resultId, target: review.target, amendedLabel: review.amendedLabel, comment: review.comment });
      return reviewRow(this.db.prepare('SELECT * FROM reviews WHERE id = ?').get(Number(info.lastInsertRowid)));
    })();
  }

  reviewsForResult(resultId: number): ReviewRow[] {
    return this.db.prepare('SELECT * FROM reviews WHERE result_id = ? ORDER BY id').all(resultId).map(reviewRow);
  }

  /**
   * Signs the result out: it becomes final, with who and when. Needs a decision on the slide-level
   * finding first, so a report is never signed without anybody having looked at the AI's conclusion.
   */
  signOut(slideId: number, resultId: number, conclusion: string, user: { id: number; username: string }): SignOutRow {
    return this.db.transaction(() => {
      this.assertOpenResult(slideId, resultId);
      const slideReview = this.db.prepare("SELECT 1 FROM reviews WHERE result_id = ? AND target = 'slide'").get(resultId);
      if (!slideReview) throw new WebStoreError('CONFLICT', `result ${resultId} has no decision on its slide-level finding yet; confirm, reject or amend it before signing out`);
      const at = now();
      this.db.prepare('INSERT INTO sign_outs (result_id, slide_id, user_id, reviewer, conclusion, signed_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(resultId, slideId, user.id, user.username, conclusion, at);
      this.db.prepare("UPDATE results SET status = 'final' WHERE id = ?").run(resultId);
      this.db.prepare('UPDATE slides SET updated_at = ? WHERE id = ?').run(at, slideId);
      this.store.logEvent(user.username, 'report.signed-out', `slide:${slideId}`, { resultId, conclusion });
      return this.signOutFor(resultId)!;
    })();
  }

  signOutFor(resultId: number): SignOutRow | undefined {
    const row = this.db.prepare('SELECT * FROM sign_outs WHERE result_id = ?').get(resultId) as
      { result_id: number; slide_id: number; reviewer: string; conclusion: string; signed_at: string } | undefined;
    return row && { resultId: row.result_id, slideId: row.slide_id, reviewer: row.reviewer, conclusion: row.conclusion, signedAt: row.signed_at };
  }

  private assertOpenResult(slideId: number, resultId: number): void {
    const result = this.db.prepare('SELECT slide_id, status FROM results WHERE id = ?').get(resultId) as { slide_id: number; status: string } | undefined;
    if (!result || result.slide_id !== slideId) throw new WebStoreError('NOT_FOUND', `slide ${slideId} has no result ${resultId}`);
    const latest = this.db.prepare('SELECT MAX(id) AS id FROM results WHERE slide_id = ?').get(slideId) as { id: number };
    if (latest.id !== resultId) throw new WebStoreError('CONFLICT', `result ${resultId} was superseded by result ${latest.id}; review the newer analysis`);
    if (result.status === 'final') throw new WebStoreError('CONFLICT', `result ${resultId} is signed out (final); it can no longer change`);
  }
}

function userRow(row: unknown): UserRow {
  const r = row as { id: number; username: string; role: Role; password_hash: string; disabled: number; created_at: string };
  return { id: r.id, username: r.username, role: r.role, passwordHash: r.password_hash, disabled: r.disabled === 1, createdAt: r.created_at };
}

function reviewRow(row: unknown): ReviewRow {
  const r = row as { id: number; slide_id: number; result_id: number; target: string; decision: ReviewDecision; amended_label: string | null; comment: string | null; reviewer: string; created_at: string };
  return { id: r.id, slideId: r.slide_id, resultId: r.result_id, target: r.target, decision: r.decision, amendedLabel: r.amended_label, comment: r.comment, reviewer: r.reviewer, createdAt: r.created_at };
}
