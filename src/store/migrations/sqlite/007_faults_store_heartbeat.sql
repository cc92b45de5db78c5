-- One row /readyz rewrites (at most once a second per process): a write probe, so a store that answers reads
-- but cannot take writes (disk full, read-only, I/O errors) reports not ready.
CREATE TABLE store_heartbeat (
  id INTEGER PRIMARY KEY,
  beats INTEGER NOT NULL,
  beat_at TEXT NOT NULL
);
INSERT INTO store_heartbeat (id, beats, beat_at) VALUES (1, 0, '');
