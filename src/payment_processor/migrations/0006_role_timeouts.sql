-- Statement timeouts as the roles' own settings, applied by the server when a session starts, instead of a
-- `-c statement_timeout` in the connection's startup options: RDS Proxy (staging, prod) refuses startup
-- options outright ("RDS Proxy currently doesn't support command-line options"), and a SET per session
-- would pin every client to one database connection. A stuck statement cannot outlive the request:
-- the processor's functions time out at 15 s, the authorizer's answer matters in well under 5 s.
DO $$
BEGIN
    EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', current_database() || '_app', '10s');
    EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', current_database() || '_auth', '5s');
    EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', current_database() || '_app', '30s');
END
$$;
