-- Slides found by ingest. One row per distinct content (sha256); a re-scan with new content is a new row.
CREATE TABLE slides (
  id            INTEGER PRIMARY KEY,
  sha256        TEXT NOT NULL UNIQUE,
  path          TEXT NOT NULL,                -- where the file is on the box (never sent to the cloud)
  size_bytes    INTEGER NOT NULL,
  state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'rejected')),
  priority      INTEGER NOT NULL DEFAULT 0,   -- higher first; urgent = 10
  vendor        TEXT,
  width         INTEGER,
  height        INTEGER,
  mpp_x         REAL,
  mpp_y         REAL,
  objective_power REAL,
  error         TEXT,                          -- the reader's or the analysis' reason when rejected / failed
  created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX slides_state ON slides (state, priority DESC, id);

-- Work on slides. A job is leased by one worker; an expired lease is taken back at start-up.
CREATE TABLE jobs (
  id              INTEGER PRIMARY KEY,
  slide_id        INTEGER NOT NULL REFERENCES slides (id),
  kind            TEXT NOT NULL DEFAULT 'analyze',
  state           TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'quarantined')),
  priority        INTEGER NOT NULL DEFAULT 0,
  attempts        INTEGER NOT NULL DEFAULT 0,
  max_attempts    INTEGER NOT NULL DEFAULT 3,
  interruptions   INTEGER NOT NULL DEFAULT 0,   -- runs cut short by a crash or power loss (not the slide's fault... usually)
  not_before      TEXT,                         -- retry back-off
  lease_owner     TEXT,
  lease_expires_at TEXT,
  progress_done   INTEGER NOT NULL DEFAULT 0,
  progress_total  INTEGER NOT NULL DEFAULT 0,
  error           TEXT,
  created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  started_at      TEXT,
  finished_at     TEXT
);
CREATE INDEX jobs_pick ON jobs (state, priority DESC, id);
CREATE UNIQUE INDEX jobs_one_open_per_slide ON jobs (slide_id, kind) WHERE state IN ('queued', 'running');

-- Analysis results: exactly one per finished job, with the model that produced it (traceability).
CREATE TABLE results (
  id              INTEGER PRIMARY KEY,
  slide_id        INTEGER NOT NULL REFERENCES slides (id),
  job_id          INTEGER NOT NULL UNIQUE REFERENCES jobs (id),
  model_id        TEXT NOT NULL,
  model_version   TEXT NOT NULL,
  model_digest    TEXT NOT NULL,
  model_release   INTEGER,
  finding_label   TEXT,
  finding_score   REAL,
  status          TEXT NOT NULL DEFAULT 'preliminary' CHECK (status IN ('preliminary', 'final')),
  result_json     TEXT NOT NULL,
  output_dir      TEXT,
  created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX results_slide ON results (slide_id, id);

-- Who did what, when: logins, reviews, sign-outs, updates, ingest decisions.
CREATE TABLE events (
  id        INTEGER PRIMARY KEY,
  at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  actor     TEXT NOT NULL,      -- 'system', 'ingest', a user name...
  kind      TEXT NOT NULL,
  subject   TEXT,
  details   TEXT                -- JSON
);
CREATE INDEX events_kind ON events (kind, id);

-- Messages to the cloud, written in the same transaction as the change that caused them.
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY,
  topic           TEXT NOT NULL,
  payload         BLOB NOT NULL,
  idempotency_key TEXT NOT NULL UNIQUE,
  slide_id        INTEGER REFERENCES slides (id),
  created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  attempts        INTEGER NOT NULL DEFAULT 0
);
