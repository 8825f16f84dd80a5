/**
 * Threat 29 (and 39, 40, 42, 43): SIGKILL at every step from the deferral to GC, then a restart: the
 * pointer flip is atomic, the trial window survives restarts, a commit is never undone.
 */
import { crashDuringRollbackTest, crashTest, crashWorld } from './helpers/crash.ts';

await crashWorld();
for (const step of [
  'persist:DEFERRED', 'persist:ACTIVATING', 'activate:before-flip', 'activate:flipped', 'persist:HEALTH_CHECK', 'health:analysis',
  'commit:before', 'persist:SUCCEEDED', 'commit:done', 'gc:start', 'gc:file',
]) crashTest(step);
crashDuringRollbackTest();
