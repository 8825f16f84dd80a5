-- Cloud sync (src/sync/, docs/mqtt.md).

-- Second-opinion requests: the package is built and queued at request time (its parts are outbox rows of
-- the 'bulk' lane); parts_sent counts the parts the broker acknowledged, so progress survives restarts.
CREATE TABLE second_opinions (
  id              INTEGER PRIMARY KEY,
  request_id      TEXT NOT NULL UNIQUE,          -- sent to the cloud; the expert's response names it
  slide_id        INTEGER NOT NULL REFERENCES slides (id),
  result_id       INTEGER NOT NULL REFERENCES results (id),
  note            TEXT,
  requested_by    TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'answered')),
  package_bytes   INTEGER NOT NULL,
  package_sha256  TEXT NOT NULL,
  parts_total     INTEGER NOT NULL,              -- the request message plus its chunks
  parts_sent      INTEGER NOT NULL DEFAULT 0,
  requested_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  sent_at         TEXT,
  answered_at     TEXT,
  response_json   TEXT                           -- the expert's answer as received (validated)
);
CREATE INDEX second_opinions_slide ON second_opinions (slide_id, id);

-- Outbox lanes: 'normal' (results, events) is published first; 'bulk' (second-opinion packages) only in
-- the configured upload windows. Order is kept within each lane.
ALTER TABLE outbox ADD COLUMN lane TEXT NOT NULL DEFAULT 'normal' CHECK (lane IN ('normal', 'bulk'));
ALTER TABLE outbox ADD COLUMN second_opinion_id INTEGER REFERENCES second_opinions (id);
CREATE INDEX outbox_lane ON outbox (lane, id);

-- Messages the broker refused several times (not a lost connection: a refusal), kept for an operator.
CREATE TABLE outbox_refused (
  id              INTEGER PRIMARY KEY,           -- the outbox id it had
  topic           TEXT NOT NULL,
  payload         BLOB NOT NULL,
  idempotency_key TEXT NOT NULL UNIQUE,
  slide_id        INTEGER REFERENCES slides (id),
  reason          TEXT NOT NULL,
  refused_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- MQTT bytes of acknowledged messages about each slide (results, events, second-opinion packages).
CREATE TABLE slide_bytes_sent (
  slide_id              INTEGER PRIMARY KEY REFERENCES slides (id),
  result_bytes          INTEGER NOT NULL DEFAULT 0,
  second_opinion_bytes  INTEGER NOT NULL DEFAULT 0,
  messages              INTEGER NOT NULL DEFAULT 0
);

-- Bytes published per minute (all messages), for the hourly bandwidth budget across restarts.
CREATE TABLE sync_bytes_minute (
  minute  INTEGER PRIMARY KEY,                   -- Unix time / 60
  bytes   INTEGER NOT NULL
);

-- The cloud's end-to-end receipts of results (.../results/ack).
CREATE TABLE cloud_receipts (
  idempotency_key TEXT PRIMARY KEY,
  received_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Small sync bookkeeping (the audit events already relayed to the cloud).
CREATE TABLE sync_state (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
);
