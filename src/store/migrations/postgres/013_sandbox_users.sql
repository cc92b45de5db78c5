-- A sandbox number's simulated users live in the memory of the process that made them: which process holds each
-- one, so that once it stops beating in media_nodes the others (or, on SQLite, its next run) end the call as the
-- user's phone vanishing would (docs/sandbox.md). Keyed as the simulator knows its calls: the row is written before
-- the call it belongs to exists, so that no call is ever stored without it.
CREATE TABLE sandbox_users (
  number_id TEXT NOT NULL REFERENCES numbers (id) ON DELETE CASCADE,
  external_call_id TEXT NOT NULL,
  media_node TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (number_id, external_call_id)
);
CREATE INDEX sandbox_users_node ON sandbox_users (media_node);
