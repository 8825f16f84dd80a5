-- The dashboard: accounts, sessions, reviews of AI findings and sign-outs (issue 6).

CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
  role          TEXT NOT NULL CHECK (role IN ('admin', 'pathologist', 'technician')),
  password_hash TEXT NOT NULL,                 -- scrypt$N$r$p$salt$hash (base64url); never the password
  disabled      INTEGER NOT NULL DEFAULT 0,
  created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  password_changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- A session is found by the SHA-256 of its cookie: a copy of the database does not let anyone log in.
CREATE TABLE sessions (
  token_hash    TEXT PRIMARY KEY,
  user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  csrf_token    TEXT NOT NULL,
  client        TEXT,                          -- address and browser, for the audit trail
  created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  last_seen_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  expires_at    TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- A pathologist's decision on one finding of one result: the slide-level finding or one region of interest.
-- The latest decision per (result, target) counts; earlier ones stay as history.
CREATE TABLE reviews (
  id            INTEGER PRIMARY KEY,
  slide_id      INTEGER NOT NULL REFERENCES slides (id),
  result_id     INTEGER NOT NULL REFERENCES results (id),
  target        TEXT NOT NULL CHECK (target = 'slide' OR target GLOB 'roi:[0-9]*'),
  decision      TEXT NOT NULL CHECK (decision IN ('confirm', 'reject', 'amend')),
  amended_label TEXT,
  comment       TEXT,
  user_id       INTEGER NOT NULL REFERENCES users (id),
  reviewer      TEXT NOT NULL,                 -- the username then, kept even if the account changes
  created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CHECK ((decision = 'amend') = (amended_label IS NOT NULL))
);
CREATE INDEX reviews_result ON reviews (result_id, target, id);

-- Sign-out turns a result from preliminary to final; one per result, never undone.
CREATE TABLE sign_outs (
  result_id     INTEGER PRIMARY KEY REFERENCES results (id),
  slide_id      INTEGER NOT NULL REFERENCES slides (id),
  user_id       INTEGER NOT NULL REFERENCES users (id),
  reviewer      TEXT NOT NULL,
  conclusion    TEXT NOT NULL,
  signed_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- A final report is frozen: whatever the application does, the database refuses later reviews.
CREATE TRIGGER reviews_frozen_after_sign_out BEFORE INSERT ON reviews
WHEN (SELECT status FROM results WHERE id = NEW.result_id) = 'final'
BEGIN
  SELECT RAISE(ABORT, 'result is signed out (final); reviews are closed');
END;
