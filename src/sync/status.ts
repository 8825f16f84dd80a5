import { SyncStore, type Store } from '../store/index.ts';

export interface SlideReduction {
  slideId: number;
  sha256: string;
  slideBytes: number;
  resultBytes: number;
  secondOpinionBytes: number;
  /** Bytes sent about the slide as a share of its file, and the saving against sending the file. */
  fractionOfSlide: number;
  reductionPercent: number;
}

export interface SyncStatus {
  outbox: { normal: number; bulk: number; refused: number };
  cloudReceipts: number;
  secondOpinions: {
    id: number; requestId: string; slideId: number; state: string; parts: { sent: number; total: number };
    requestedAt: string; answeredAt: string | null; response: unknown;
  }[];
  /** The most recent slides, and the total over every slide sync has sent anything about. */
  bytesSent: { slides: SlideReduction[]; total: Omit<SlideReduction, 'slideId' | 'sha256'> & { slides: number } };
}

const RECENT_SLIDES = 20;

/** For `pathbox status`: null when the database predates sync (the daemon has not migrated it yet). */
export function readSyncStatus(store: Store): SyncStatus | null {
  if (!store.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'second_opinions'").get()) return null;
  const sync = new SyncStore(store);
  const slides = sync.slideBytes(RECENT_SLIDES).map((row) => reduction(row.slideId, row.sha256, row.sizeBytes, row.resultBytes, row.secondOpinionBytes));
  const all = sync.slideBytesTotal();
  const total = reduction(0, '', all.sizeBytes, all.resultBytes, all.secondOpinionBytes);
  return {
    outbox: { ...sync.laneDepths(), refused: sync.refusedCount() },
    cloudReceipts: sync.cloudReceiptCount(),
    secondOpinions: sync.listSecondOpinions({ limit: 10 }).map((r) => ({
      id: r.id, requestId: r.requestId, slideId: r.slideId, state: r.state, parts: { sent: r.partsSent, total: r.partsTotal },
      requestedAt: r.requestedAt, answeredAt: r.answeredAt, response: r.response,
    })),
    bytesSent: {
      slides,
      total: { slides: all.slides, slideBytes: total.slideBytes, resultBytes: total.resultBytes, secondOpinionBytes: total.secondOpinionBytes, fractionOfSlide: total.fractionOfSlide, reductionPercent: total.reductionPercent },
    },
  };
}

function reduction(slideId: number, sha256: string, slideBytes: number, resultBytes: number, secondOpinionBytes: number): SlideReduction {
  const fraction = slideBytes > 0 ? (resultBytes + secondOpinionBytes) / slideBytes : 0;
  return {
    slideId, sha256, slideBytes, resultBytes, secondOpinionBytes,
    fractionOfSlide: Math.round(fraction * 1e6) / 1e6,
    reductionPercent: Math.round((1 - fraction) * 1e4) / 100,
  };
}

/** The human lines of `pathbox status` about sync. */
export function describeSyncStatus(status: SyncStatus | null): string[] {
  if (!status) return [];
  const t = status.bytesSent.total;
  return [
    ...(t.slides ? [`cloud: ${t.resultBytes + t.secondOpinionBytes} bytes sent about ${t.slides} slide(s) of ${t.slideBytes} bytes (${t.reductionPercent}% less); ${status.cloudReceipts} result(s) confirmed by the cloud`] : []),
    ...status.secondOpinions.map((o) => {
      const answer = o.response as { expert?: string; opinion?: string } | null;
      return `second opinion for slide ${o.slideId}: ${o.state} (${o.parts.sent}/${o.parts.total} parts)${answer ? ` — ${answer.expert ?? 'expert'}: ${answer.opinion}` : ''}`;
    }),
  ];
}
