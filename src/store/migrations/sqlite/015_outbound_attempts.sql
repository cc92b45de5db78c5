-- A POST /v1/calls on its way to the provider: removed when its call is stored or the provider clearly refused.
-- One left behind (the request died, or gave up on an answer that then came) may account for one call the
-- provider placed that no request stored; other unknown outbound calls were placed by someone else.
CREATE TABLE outbound_attempts (
  id TEXT PRIMARY KEY,
  number_id TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX outbound_attempts_number ON outbound_attempts (number_id, created_at);
CREATE INDEX outbound_attempts_created ON outbound_attempts (created_at);
