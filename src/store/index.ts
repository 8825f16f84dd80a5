/** The store stage's public surface: the box's SQLite state. */
export { Store, defaultRetryPolicy } from './store.ts';
export type { CompletedAnalysis, NewSlide, RetryPolicy } from './store.ts';
export { StoreError } from './database.ts';
export type * from './types.ts';
