import PostgresClient

/// The INSERT and guarded UPDATE statements of the schema's tables, declared
/// once for the writer (`PostgresStore.Writes`) and for `import`. Each takes
/// whole columns as arrays, so one statement text writes any number of rows
/// and is prepared once.
enum PostgresRows {
    static func records(lsns: [UInt64], lines: [String]) -> PostgresQuery {
        PostgresQuery("INSERT INTO runtime_records (lsn, line) SELECT * FROM unnest($1::bigint[], $2::text[])", [PostgresArray.int(lsns), PostgresArray.text(lines)])
    }

    static func runEvents(runs: [String], seqs: [UInt64], keys: [String], lsns: [UInt64]) -> PostgresQuery {
        PostgresQuery("INSERT INTO runtime_run_events (run_id, seq, idem_key, lsn) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[])",
                      [PostgresArray.text(runs), PostgresArray.int(seqs), PostgresArray.text(keys), PostgresArray.int(lsns)])
    }

    static func newRuns(ids: [String], seqs: [UInt64], bodies: [String]) -> PostgresQuery {
        PostgresQuery("INSERT INTO runtime_runs (run_id, last_seq, body) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])",
                      [PostgresArray.text(ids), PostgresArray.int(seqs), PostgresArray.text(bodies)])
    }

    static func newWorkers(ids: [String], users: [String], guests: [String], seqs: [UInt64], bodies: [String]) -> PostgresQuery {
        PostgresQuery("""
            INSERT INTO runtime_workers (worker_id, owner_user, owner_guest, last_seq, body)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
            """, [PostgresArray.text(ids), PostgresArray.text(users), PostgresArray.text(guests), PostgresArray.int(seqs), PostgresArray.text(bodies)])
    }

    /// Moves each head (`runtime_runs` by `run_id`, `runtime_workers` by
    /// `worker_id`) from `previous` to `seqs`; if any row's seq is not
    /// `previous` any more, `openagents_guard` aborts the transaction (OA409).
    static func movedHeads(table: String, id: String, ids: [String], seqs: [UInt64], previous: [UInt64], bodies: [String]) -> PostgresQuery {
        PostgresQuery("""
            WITH u AS (UPDATE \(table) t SET last_seq = m.seq, body = m.body
                       FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[]) AS m(\(id), seq, previous, body)
                       WHERE t.\(id) = m.\(id) AND t.last_seq = m.previous RETURNING 1)
            SELECT openagents_guard(count(*) = $5, 'a seq in \(table) moved under its row lock') FROM u
            """, [PostgresArray.text(ids), PostgresArray.int(seqs), PostgresArray.int(previous), PostgresArray.text(bodies), String(ids.count)])
    }

    static func workerEvents(ids: [String], seqs: [UInt64], lsns: [UInt64]) -> PostgresQuery {
        PostgresQuery("INSERT INTO runtime_worker_events (worker_id, seq, lsn) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])",
                      [PostgresArray.text(ids), PostgresArray.int(seqs), PostgresArray.int(lsns)])
    }

    static func comms(keys: [String], bodies: [String]) -> PostgresQuery {
        PostgresQuery("INSERT INTO runtime_comms (key, body) SELECT * FROM unnest($1::text[], $2::text[])", [PostgresArray.text(keys), PostgresArray.text(bodies)])
    }

    static func toolCalls(ids: [String], authorizations: [String], costs: [UInt64], bodies: [String]) -> PostgresQuery {
        PostgresQuery("""
            INSERT INTO runtime_tool_calls (receipt_id, authorization_id, cost_sats, body) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])
            """, [PostgresArray.text(ids), PostgresArray.text(authorizations), PostgresArray.int(costs), PostgresArray.text(bodies)])
    }
}
