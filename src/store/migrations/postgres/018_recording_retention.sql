-- RECORDING_RETENTION_DAYS: finished recordings (ready or failed) in the order they finished (updated_at is set
-- when a recording ends and not after), so the expiry pass reads only what is due.
CREATE INDEX call_media_recordings_finished ON call_media (updated_at, call_id)
  WHERE recording_status IN ('ready', 'failed');
