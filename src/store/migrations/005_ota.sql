-- Signed OTA model updates (src/ota/). One job per update attempt, driven through an explicit state machine;
-- every transition is one transaction that also writes its history row and its outbox status message.
CREATE TABLE ota_jobs (
  id               INTEGER PRIMARY KEY,
  state            TEXT NOT NULL CHECK (state IN ('QUEUED', 'REFRESHING', 'DOWNLOADING', 'VERIFYING', 'STAGED', 'DEFERRED',
                     'ACTIVATING', 'HEALTH_CHECK', 'SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED', 'ALREADY_INSTALLED')),
  terminal         INTEGER NOT NULL CHECK (terminal = (state IN ('SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED', 'ALREADY_INSTALLED'))),
  trigger          TEXT NOT NULL,               -- 'cli', 'poll', 'nudge'
  source           TEXT NOT NULL,               -- JSON: where metadata and targets come from (repository URL or USB folder)
  requested        TEXT,                        -- JSON {id, version} when a command named a release
  model_id         TEXT,
  version          TEXT,
  release_counter  INTEGER,
  manifest_sha256  TEXT,                        -- identifies the release's content (the signed manifest target)
  role             TEXT,                        -- the targets role that listed the release, and its version
  role_version     INTEGER,
  previous_version TEXT,                        -- what served before the switch (the rollback target)
  reason           TEXT,                        -- reason code of a terminal state other than SUCCEEDED / ALREADY_INSTALLED
  detail           TEXT,
  trial_needed     INTEGER NOT NULL DEFAULT 0,  -- healthy analyses required before commit
  trial_done       INTEGER NOT NULL DEFAULT 0,
  trial_boots      INTEGER NOT NULL DEFAULT 0,  -- restarts during the trial window (crash-loop detection)
  metadata         TEXT,                        -- JSON: trusted role versions when the job last refreshed
  created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  finished_at      TEXT
);
-- At most one unfinished job: a second updater (daemon, CLI, USB) finds it and reports BUSY or resumes it.
CREATE UNIQUE INDEX ota_jobs_single_open ON ota_jobs (terminal) WHERE terminal = 0;

-- Every transition, in order; seq doubles as the monotonic counter of the signed status reports.
CREATE TABLE ota_history (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id     INTEGER NOT NULL REFERENCES ota_jobs (id),
  from_state TEXT,
  to_state   TEXT NOT NULL,
  reason     TEXT,
  detail     TEXT,
  at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX ota_history_job ON ota_history (job_id, seq);

-- Releases that failed on this box: not tried again until the role that lists them publishes a new version.
CREATE TABLE ota_blocked_releases (
  model_id        TEXT NOT NULL,
  manifest_sha256 TEXT NOT NULL,
  version         TEXT NOT NULL,
  role            TEXT NOT NULL,
  role_version    INTEGER NOT NULL,
  reason          TEXT NOT NULL,
  at              TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (model_id, manifest_sha256)
);

-- The updater's lock: one process at a time. A holder that died (pid gone, or another boot) loses it.
CREATE TABLE ota_lock (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  owner       TEXT NOT NULL,
  pid         INTEGER NOT NULL,
  boot_id     TEXT NOT NULL,
  acquired_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Nonces of per-device commands already acted on, so a replayed command is refused.
CREATE TABLE ota_command_nonces (
  nonce TEXT PRIMARY KEY,
  at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
