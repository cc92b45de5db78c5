-- Outbound calls and the self-healing lifecycle (issue 4), provider data for web numbers.
ALTER TABLE calls ADD COLUMN max_duration_seconds INTEGER;
-- Provider-specific facts a later action needs (e.g. Evolution's callCreator JID), as JSON.
ALTER TABLE calls ADD COLUMN provider_data TEXT;
CREATE INDEX calls_accepted ON calls (status, connected_at) WHERE status = 'ACCEPTED';

-- Every provider event and API action on a call, in order (GET /v1/calls/{id}/events).
CREATE TABLE call_timeline (
  call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
  sequence INTEGER NOT NULL,
  source TEXT NOT NULL,
  type TEXT NOT NULL,
  detail TEXT NOT NULL,
  at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (call_id, sequence)
);

-- Idempotency-Key records, scoped to the API key (Stripe semantics, kept 24 h).
CREATE TABLE idempotency_keys (
  scope TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  state TEXT NOT NULL,
  response_status INTEGER,
  response_body TEXT,
  locked_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (scope, idempotency_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- Provider events for an outbound call whose id we do not know yet (Meta may be faster than its own 200).
CREATE TABLE parked_events (
  id TEXT PRIMARY KEY,
  number_id TEXT NOT NULL,
  external_call_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX parked_events_call ON parked_events (number_id, external_call_id);
