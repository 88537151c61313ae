-- When each exchange and network's positions were last read, by the time the refresh read the
-- ledger: a refresh writes its snapshot only if no later one has, so a slow refresh whose
-- ledger read predates a fill cannot overwrite a newer reconcile (issue 13).
CREATE TABLE IF NOT EXISTS position_reads (
  exchange TEXT NOT NULL,
  network TEXT NOT NULL,
  read_at_ms INTEGER NOT NULL,
  PRIMARY KEY (exchange, network)
);
