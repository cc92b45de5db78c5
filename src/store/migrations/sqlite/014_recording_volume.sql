-- The RECORDINGS_DIR a recording was written to (its .callgate-volume id): a process with another directory is not
-- where the file is. NULL for recordings made before it was kept.
ALTER TABLE call_media ADD COLUMN recording_volume TEXT;
