-- Which SECRET_KEYs processes have started with, by fingerprint (never the key): `secret-key rotate` refuses a key
-- no process uses, so a key mistyped in the rotating shell cannot seal every secret under a key no process has.
CREATE TABLE secret_keys (
  fingerprint TEXT PRIMARY KEY,
  first_seen_at TEXT NOT NULL,
  last_seen_at TEXT NOT NULL
);
