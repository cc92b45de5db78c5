CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE numbers (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL,
  phone_number TEXT NOT NULL,
  provider TEXT NOT NULL,
  -- Routing key of inbound Meta webhooks.
  meta_phone_number_id TEXT UNIQUE,
  public_config TEXT NOT NULL,
  -- Provider credentials, AES-256-GCM with SECRET_KEY.
  secret_config TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX numbers_tenant ON numbers (tenant_id, created_at);

CREATE TABLE api_keys (
  -- Both the key id and the secret are credentials: only their SHA-256 is stored.
  id_hash TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL UNIQUE,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  number_id TEXT REFERENCES numbers(id) ON DELETE CASCADE,
  key_id_last4 TEXT NOT NULL,
  key_last4 TEXT NOT NULL,
  created_at TEXT NOT NULL,
  last_used_at TEXT
);
CREATE UNIQUE INDEX api_keys_one_per_number ON api_keys (number_id) WHERE number_id IS NOT NULL;
CREATE UNIQUE INDEX api_keys_one_per_tenant ON api_keys (tenant_id) WHERE number_id IS NULL;

CREATE TABLE calls (
  id TEXT PRIMARY KEY,
  number_id TEXT NOT NULL REFERENCES numbers(id) ON DELETE CASCADE,
  tenant_id TEXT NOT NULL,
  external_call_id TEXT NOT NULL,
  direction TEXT NOT NULL,
  status TEXT NOT NULL,
  peer_number TEXT NOT NULL,
  duration_seconds INTEGER,
  started_at TEXT NOT NULL,
  connected_at TEXT,
  ended_at TEXT,
  ended_by TEXT,
  end_reason TEXT,
  biz_opaque_callback_data TEXT,
  sdp_offer TEXT,
  sdp_answer TEXT,
  event_seq INTEGER NOT NULL DEFAULT 0,
  -- The business action at the provider right now, so concurrent requests send it once.
  action_id TEXT,
  action_kind TEXT,
  action_started_at TEXT,
  action_error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (number_id, external_call_id)
);
CREATE INDEX calls_number_created ON calls (number_id, created_at DESC, id DESC);
CREATE INDEX calls_active ON calls (status, started_at) WHERE status IN ('INITIATED', 'RINGING', 'ACCEPTED');

-- The outbox: written in the transaction that changes the call.
CREATE TABLE events (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  number_id TEXT NOT NULL,
  call_id TEXT,
  type TEXT NOT NULL,
  sequence INTEGER,
  payload TEXT NOT NULL,
  occurred_at TEXT NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE (call_id, sequence)
);
CREATE INDEX events_number_created ON events (number_id, created_at, id);
-- Exactly one call.ended per call, enforced by the database too.
CREATE UNIQUE INDEX events_one_ended_per_call ON events (call_id) WHERE type = 'call.ended';

-- Meta terminate that arrived before its connect (docs/spec/providers-meta.md R4).
CREATE TABLE tombstones (
  number_id TEXT NOT NULL,
  external_call_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  PRIMARY KEY (number_id, external_call_id)
);
