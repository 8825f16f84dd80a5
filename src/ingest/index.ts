/** The ingest stage's public surface: find complete slides in the scanner's folders. */
export { InboxWatcher } from './inbox-watcher.ts';
export type { IngestOptions, InboxProblem } from './inbox-watcher.ts';
export { sha256File } from './hash.ts';
