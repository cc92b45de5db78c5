-- Callers without a phone number (issue 16): Meta's business-scoped user id, and the LID of a web caller whose
-- phone WhatsApp does not reveal. peer_number stays NOT NULL: '' means "no phone number known" (read back as null).
ALTER TABLE calls ADD COLUMN peer_user_id TEXT;
ALTER TABLE calls ADD COLUMN peer_lid TEXT;
