-- A number can record every server-media call by default (recordCalls); a call's own `record` still decides.
-- 0/1 rather than a boolean type, so both dialects read and bind it the same way.
ALTER TABLE numbers ADD COLUMN record_calls INTEGER NOT NULL DEFAULT 0 CHECK (record_calls IN (0, 1));
