import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from 'pino';
import { isSlideError, openSlide, type SlideMetadata } from '../slide/index.ts';
import type { Store } from '../store/index.ts';
import { listCandidates, type Candidate } from './candidates.ts';
import { sha256Files } from './hash.ts';

export interface IngestOptions {
  inboxes: string[];
  /** A file is taken once its size and mtime have not changed for this long. */
  settleMs: number;
  pollMs: number;
  /** Non-null (the reason) while ingest must pause, e.g. the disk guard. */
  pausedBecause?: () => string | null;
  /** Called after a new readable slide was queued. */
  onQueued?: () => void;
  logger: Logger;
}

export interface InboxProblem {
  inbox: string;
  error: string;
}

interface Watched {
  sizeBytes: number;
  mtimeMs: number;
  stableSince: number;
}

/** A truncated file may be a scanner that paused mid-write: wait this many settle periods before rejecting it. */
const TRUNCATED_PATIENCE = 5;
const EVENT_DEBOUNCE_MS = 250;

/**
 * Finds complete slides in the scanner's folders and records each distinct content once. Polling (not
 * only file events) is what finds slides that arrived while the daemon was down and works on network
 * shares; fs.watch only makes it react sooner.
 */
export class InboxWatcher {
  private readonly options: IngestOptions;
  private readonly store: Store;
  private readonly watched = new Map<string, Watched>();
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;
  private scanning: Promise<void> | null = null;
  private eventScan: NodeJS.Timeout | null = null;
  problems: InboxProblem[] = [];

  constructor(store: Store, options: IngestOptions) {
    this.store = store;
    this.options = options;
  }

  start(): void {
    for (const inbox of this.options.inboxes) {
      try {
        this.watchers.push(watch(inbox, { recursive: true }, () => this.requestScan()));
      } catch {
        // No events on this filesystem (or the inbox is missing): polling still covers it.
      }
    }
    const tick = () => {
      this.timer = setTimeout(async () => {
        await this.scan();
        if (this.timer) tick();
      }, this.options.pollMs);
    };
    void this.scan();
    tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    if (this.eventScan) clearTimeout(this.eventScan);
    this.timer = null;
    this.eventScan = null;
    for (const w of this.watchers.splice(0)) w.close();
    await this.scanning;
  }

  /** A file event: scan soon (debounced; a copy in progress fires hundreds of events). */
  private requestScan(): void {
    if (this.eventScan || !this.timer) return;
    this.eventScan = setTimeout(() => {
      this.eventScan = null;
      void this.scan();
    }, EVENT_DEBOUNCE_MS);
  }

  /** One pass over every inbox; concurrent calls share the pass in progress. */
  scan(): Promise<void> {
    this.scanning ??= this.scanAll().finally(() => {
      this.scanning = null;
    });
    return this.scanning;
  }

  private async scanAll(): Promise<void> {
    const problems: InboxProblem[] = [];
    const present = new Set<string>();
    for (const inbox of this.options.inboxes) {
      let candidates: Candidate[];
      try {
        candidates = await listCandidates(inbox);
      } catch (e) {
        problems.push({ inbox, error: `cannot read inbox: ${(e as Error).message}` });
        continue;
      }
      for (const candidate of candidates) {
        present.add(candidate.key);
        const paused = this.options.pausedBecause?.();
        if (paused) break;
        await this.consider(candidate);
      }
    }
    for (const key of this.watched.keys()) if (!present.has(key)) this.watched.delete(key);
    if (JSON.stringify(problems) !== JSON.stringify(this.problems)) {
      for (const p of problems) this.options.logger.warn({ inbox: p.inbox }, p.error);
    }
    this.problems = problems;
  }

  private async consider(candidate: Candidate): Promise<void> {
    if (this.store.isIngested(candidate.key, candidate.sizeBytes, candidate.mtimeMs)) return;
    const now = Date.now();
    const seen = this.watched.get(candidate.key);
    if (!seen || seen.sizeBytes !== candidate.sizeBytes || seen.mtimeMs !== candidate.mtimeMs) {
      this.watched.set(candidate.key, { sizeBytes: candidate.sizeBytes, mtimeMs: candidate.mtimeMs, stableSince: now });
      return;
    }
    const stableFor = now - seen.stableSince;
    if (stableFor < this.options.settleMs) return;

    let metadata: SlideMetadata | null = null;
    let rejectedReason: string | undefined;
    try {
      const slide = await openSlide(candidate.openPath);
      metadata = slide.metadata;
      await slide.close();
    } catch (e) {
      if (isSlideError(e) && e.code === 'TRUNCATED' && stableFor < this.options.settleMs * TRUNCATED_PATIENCE) return;
      if (isSlideError(e) && e.code === 'IO') return; // permissions or a vanished file: look again next pass
      rejectedReason = e instanceof Error ? e.message : String(e);
    }
    const sha256 = await sha256Files(candidate.files);
    const { slide, created } = this.store.ingest(candidate.key, {
      sha256,
      path: candidate.openPath,
      sizeBytes: candidate.sizeBytes,
      vendor: metadata?.vendor ?? null,
      width: metadata?.width ?? null,
      height: metadata?.height ?? null,
      mppX: metadata?.mpp?.[0] ?? null,
      mppY: metadata?.mpp?.[1] ?? null,
      objectivePower: metadata?.objectivePower ?? null,
      rejectedReason,
    }, candidate.mtimeMs);
    this.watched.delete(candidate.key);
    const log = { slideId: slide.id, sha256, file: candidate.key };
    if (!created) this.options.logger.info(log, 'already known content; not analysed again');
    else if (rejectedReason) this.options.logger.warn({ ...log, reason: rejectedReason }, 'not a readable slide; recorded as rejected');
    else {
      this.options.logger.info(log, 'new slide queued');
      this.options.onQueued?.();
    }
  }
}
