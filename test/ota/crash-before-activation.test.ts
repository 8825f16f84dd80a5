/**
 * Threat 29 (and 24, 39, 43): SIGKILL at every step of the install before the switch, then a restart. The
 * steps after it are in crash-after-activation.test.ts (two files, so they run in parallel).
 */
import { crashTest, crashWorld } from './helpers/crash.ts';

await crashWorld();
for (const step of ['persist:QUEUED', 'persist:REFRESHING', 'refresh:staged', 'refresh:marks-raised', 'refresh:swapped', 'persist:DOWNLOADING']) crashTest(step);
crashTest('download:write', 6);
crashTest('download:file', 2);
for (const step of ['persist:VERIFYING', 'verify:done', 'stage:installed', 'persist:STAGED']) crashTest(step);
