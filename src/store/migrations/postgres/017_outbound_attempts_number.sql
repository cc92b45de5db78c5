-- An open attempt is a call being placed on its number: a number delete refuses while one is fresh. Its insert must
-- fail once the number is gone (no call is placed for a deleted number), and wait while a delete holds the number's
-- row (the key share a foreign key takes conflicts with the delete's FOR UPDATE); a delete takes its attempts along.
DELETE FROM outbound_attempts WHERE number_id NOT IN (SELECT id FROM numbers);
ALTER TABLE outbound_attempts
  ADD CONSTRAINT outbound_attempts_number_fk FOREIGN KEY (number_id) REFERENCES numbers(id) ON DELETE CASCADE;
