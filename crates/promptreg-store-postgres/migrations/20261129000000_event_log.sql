-- The event log becomes a dense sequence per project (1, 2, 3… without gaps), each entry the
-- canonical JSON of an EventRecord: the change with its actor, reason, time and request id.
-- `seq` is assigned under the project's writer lock (see `tx.rs`), so seq order is commit
-- order. Earlier events are carried over in the order of their ids; their actor was not
-- recorded. (Their bodies parse to the same records but are not byte-canonical: jsonb prints
-- with spaces and its own key order.)
CREATE TABLE event_log (
    project TEXT COLLATE "C" NOT NULL,
    seq     BIGINT NOT NULL CHECK (seq >= 1),
    kind    TEXT NOT NULL,
    at      TIMESTAMPTZ NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (project, seq)
);

INSERT INTO event_log (project, seq, kind, at, body)
SELECT project, n, kind, at,
       jsonb_build_object(
           'actor', 'unrecorded',
           'at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'change', payload,
           'project', project,
           'seq', n
       )::text
  FROM (SELECT project, kind, at, payload,
               row_number() OVER (PARTITION BY project ORDER BY id) AS n
          FROM events) AS old;

DROP TABLE events;
