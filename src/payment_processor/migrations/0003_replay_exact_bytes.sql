-- A replay answers the first response's exact bytes. jsonb keeps neither key order nor spacing, so the
-- stored response body becomes the text that was sent (rows stored before keep jsonb's rendering).
ALTER TABLE idempotency_keys ALTER COLUMN response_body TYPE text USING response_body::text;
