-- The event log becomes a dense sequence per project (1, 2, 3… without gaps), each entry the
-- canonical JSON of an EventRecord: the change with its actor, reason, time and request id.
-- Earlier events are carried over in order; their actor was not recorded.
CREATE TABLE event_log (
    project TEXT    NOT NULL,
    seq     INTEGER NOT NULL CHECK (seq >= 1),
    kind    TEXT    NOT NULL,
    at      TEXT    NOT NULL,
    body    TEXT    NOT NULL,
    PRIMARY KEY (project, seq)
) WITHOUT ROWID;

INSERT INTO event_log (project, seq, kind, at, body)
SELECT project, n, kind, at,
       json_object('actor', 'unrecorded', 'at', at, 'change', json(payload),
                   'project', project, 'seq', n)
  FROM (SELECT project, kind, at, payload,
               ROW_NUMBER() OVER (PARTITION BY project ORDER BY id) AS n
          FROM events);

DROP TABLE events;
