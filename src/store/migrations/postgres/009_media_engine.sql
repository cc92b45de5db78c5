-- Server media (the media engine): which calls callgate answers itself, the process that holds their media,
-- and their recording. A table of its own: most calls never have a row, and the call row stays as it is.
CREATE TABLE call_media (
  call_id TEXT PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
  number_id TEXT NOT NULL,
  media TEXT NOT NULL,
  media_node TEXT,
  recording_status TEXT,
  recording_path TEXT,
  recording_duration_seconds DOUBLE PRECISION,
  recording_size_bytes BIGINT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
-- Each process holding server media beats here; a call whose node stopped beating has lost its media.
CREATE TABLE media_nodes (
  node TEXT PRIMARY KEY,
  heartbeat_at TEXT NOT NULL
);
CREATE INDEX call_media_node ON call_media (media_node);
