/** The store stage's public surface: the box's SQLite state. */
export { Store, defaultRetryPolicy } from './store.ts';
export type { CompletedAnalysis, NewSlide, RetryPolicy } from './store.ts';
export { StoreError } from './database.ts';
export type * from './types.ts';
export { WebStore, WebStoreError, ROLES } from './web-store.ts';
export type { Role, ReviewDecision, ReviewRow, SessionRow, SignOutRow, UserRow, WorklistRow } from './web-store.ts';
export { SyncStore } from './sync-store.ts';
export type { LaneOutboxRow, NewSecondOpinion, OutboxLane, SecondOpinionRow, SecondOpinionState, SlideBytesRow } from './sync-store.ts';
export {
  isTerminalOtaState, OTA_STATES, OTA_TERMINAL_STATES, OtaStateError, OtaStore,
  type OtaHistoryRow, type OtaJobFields, type OtaJobRow, type OtaReport, type OtaState,
} from './ota-store.ts';
