-- What ingest has already looked at, so a restart does not re-hash every file in the inbox.
-- A file is known by (path, size, mtime); any change makes it new again.
CREATE TABLE ingest_files (
  path        TEXT PRIMARY KEY,
  size_bytes  INTEGER NOT NULL,
  mtime_ms    INTEGER NOT NULL,
  sha256      TEXT NOT NULL,
  slide_id    INTEGER REFERENCES slides (id),
  seen_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
