-- An open attempt is a call being placed on its number: a number delete refuses while one is fresh. Its insert must
-- fail once the number is gone (no call is placed for a deleted number), and wait while a delete holds the number's
-- row (the key share a foreign key takes conflicts with the delete's FOR UPDATE); a delete takes its attempts along.
-- Locked first, as the constraint's check will lock them: processes still on the version before, deleting numbers or
-- placing calls meanwhile, would otherwise leave an attempt without its number after the DELETE, and fail the check.
LOCK TABLE numbers, outbound_attempts IN SHARE ROW EXCLUSIVE MODE;
DELETE FROM outbound_attempts WHERE number_id NOT IN (SELECT id FROM numbers);
ALTER TABLE outbound_attempts
  ADD CONSTRAINT outbound_attempts_number_fk FOREIGN KEY (number_id) REFERENCES numbers(id) ON DELETE CASCADE;
