-- An open attempt is a call being placed on its number: a number delete refuses while one is fresh. Its insert must
-- fail once the number is gone (no call is placed for a deleted number), and a delete takes its attempts with it.
-- SQLite cannot add a foreign key to a table: it is made again, without the attempts of numbers already gone.
CREATE TABLE outbound_attempts_new (
  id TEXT PRIMARY KEY,
  number_id TEXT NOT NULL REFERENCES numbers(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL
);
INSERT INTO outbound_attempts_new (id, number_id, created_at)
  SELECT id, number_id, created_at FROM outbound_attempts WHERE number_id IN (SELECT id FROM numbers);
DROP TABLE outbound_attempts;
ALTER TABLE outbound_attempts_new RENAME TO outbound_attempts;
CREATE INDEX outbound_attempts_number ON outbound_attempts (number_id, created_at);
CREATE INDEX outbound_attempts_created ON outbound_attempts (created_at);
