// A scoring worker for databases where the extension cannot be installed. It claims unscored
// requests with FOR UPDATE SKIP LOCKED and writes their scores and scored_at marks in one
// transaction, so concurrent workers score each request once (a test runs two at once).

import CTR
import Foundation
import Postgres

/// The requests a worker finished: scored, or set aside because their feature arrays do not fit
/// the champion (marked in `adpilot.ad_requests.rejected_reason`).
public struct WorkerCounts: Sendable, Equatable {
  public var scored = 0
  public var rejected = 0

  static func + (lhs: WorkerCounts, rhs: WorkerCounts) -> WorkerCounts {
    WorkerCounts(scored: lhs.scored + rhs.scored, rejected: lhs.rejected + rhs.rejected)
  }
}

/// Scores queued requests of one data set in claimed batches, woken by NOTIFY.
public struct ScoringWorker {
  let connection: Connection
  let logger: Logger
  public var batchSize = 1024
  /// Seconds to wait for a notification before looking for work again, since notifications
  /// sent while a worker is disconnected are lost.
  public var pollInterval = 5.0

  public init(connection: Connection, logger: Logger) {
    self.connection = connection
    self.logger = logger
  }

  /// Scores claimed batches until no unscored request is left, or until `shouldStop` returns
  /// true between batches; returns how many it scored and set aside.
  ///
  /// With `queuedBeforeStart`, it claims only requests created before it started (by the
  /// server's clock), so that it ends even while new requests arrive faster than it scores.
  public func drain(
    dataset: String, queuedBeforeStart: Bool = false, shouldStop: () -> Bool = { false }
  ) throws -> WorkerCounts {
    var total = WorkerCounts()
    var unanalyzed = UnanalyzedRows()
    var champion: LoadedChampion?
    let cutoff =
      queuedBeforeStart
      ? try connection.query("SELECT clock_timestamp()::text")[0].string(0) : nil
    try drain(
      dataset: dataset, createdBy: cutoff, into: &total, unanalyzed: &unanalyzed,
      champion: &champion, shouldStop: shouldStop)
    return total
  }

  /// The champion a worker scores with, kept between batches while the alias stays on it.
  private struct LoadedChampion {
    var id: String
    var model: any ClickModel
  }

  /// Returns the model that the champion alias of `dataset` points at now: `cached` when the
  /// alias still names it, else the newly loaded model.
  ///
  /// A worker reads the alias before every batch, so a promotion or a rollback takes effect on
  /// its next batch even while the queue never empties. Only the alias row is read while it
  /// stays put.
  private func currentChampion(of dataset: String, cached: LoadedChampion?) throws
    -> LoadedChampion
  {
    let registry = ModelRegistry(connection: connection)
    let id = try registry.championId(of: dataset)
    if let cached, cached.id == id { return cached }
    let loaded = LoadedChampion(id: id, model: try registry.load(id: id))
    if let cached {
      logger.info(
        "champion changed; scoring the next batches with the new model",
        ["dataset": dataset, "previous": cached.id, "model": id])
    }
    return loaded
  }

  /// Rows changed by committed batches since the last ANALYZE of each table.
  private struct UnanalyzedRows {
    var scores = 0
    var requests = 0
  }

  /// Adds each committed batch to `total` as it commits, so that the batches before an error
  /// still count.
  ///
  /// Once the rows that the batches since a table's last ANALYZE changed reach the bounds of
  /// ``analyzeAfterBulkWrite(_:table:changedRows:logger:)``, it runs ANALYZE on that table
  /// between two batches.
  private func drain(
    dataset: String, createdBy cutoff: String? = nil, into total: inout WorkerCounts,
    unanalyzed: inout UnanalyzedRows, champion: inout LoadedChampion?, shouldStop: () -> Bool
  ) throws {
    while true {
      let current = try currentChampion(of: dataset, cached: champion)
      champion = current
      // An import may give the data set another layout while the alias stays put.
      if let mismatch = try championLayoutMismatch(
        connection, dataset: dataset, modelId: current.id, spec: current.model.spec)
      {
        throw mismatch
      }
      let batch = try scoreClaimedBatch(
        dataset: dataset, createdBy: cutoff, model: current.model, modelId: current.id)
      total = total + batch
      // Every claimed request gets scored_at set, and every scored one a row in ad_scores.
      unanalyzed.scores += batch.scored
      unanalyzed.requests += batch.scored + batch.rejected
      if analyzeAfterBulkWrite(
        connection, table: .adScores, changedRows: unanalyzed.scores, logger: logger)
      {
        unanalyzed.scores = 0
      }
      if analyzeAfterBulkWrite(
        connection, table: .adRequests, changedRows: unanalyzed.requests, logger: logger)
      {
        unanalyzed.requests = 0
      }
      if batch.scored + batch.rejected == 0 || shouldStop() { return }
    }
  }

  /// Drains the queue, then waits for notifications and drains again, until `until` passes or
  /// `shouldStop` returns true. Either ends the run after the batch in progress commits, also
  /// in the middle of a drain of a queue that keeps growing.
  ///
  /// When the connection drops (the server restarts, or an administrator ends the backend), the
  /// batch in progress rolls back on the server and the worker reconnects, retrying with
  /// backoff until it succeeds, the deadline passes or a stop arrives. It then listens and
  /// drains again, since notifications sent meanwhile are lost.
  public func run(dataset: String, until deadline: Date, shouldStop: () -> Bool = { false })
    throws -> WorkerCounts
  {
    var total = WorkerCounts()
    var unanalyzed = UnanalyzedRows()
    var champion: LoadedChampion?
    var listening = false
    repeat {
      do {
        if listening {
          let wait = min(pollInterval, max(0, deadline.timeIntervalSinceNow))
          _ = try connection.waitForNotification(timeout: wait)
          if shouldStop() { break }
        } else {
          try connection.listen("adpilot_requests")
          listening = true
        }
        try drain(
          dataset: dataset, into: &total, unanalyzed: &unanalyzed, champion: &champion,
          shouldStop: { shouldStop() || Date() >= deadline })
      } catch  where connection.isLost {
        listening = false
        logger.warning("connection lost; reconnecting", ["error": Self.firstLine(of: error)])
        reconnect(until: deadline, shouldStop: shouldStop)
      }
    } while Date() < deadline && !shouldStop()
    return total
  }

  /// Tries to reconnect at once, then after 0.5, 1, 2 ... seconds (at most 30 between tries),
  /// until it succeeds, `deadline` passes or `shouldStop` returns true.
  private func reconnect(until deadline: Date, shouldStop: () -> Bool) {
    var delay = 0.5
    while Date() < deadline && !shouldStop() {
      do {
        try connection.reconnect()
        logger.info("reconnected", ["server": connection.target])
        return
      } catch {
        logger.warning(
          "reconnect failed; trying again",
          ["error": Self.firstLine(of: error), "retry_s": "\(delay)"])
      }
      let resume = min(Date().addingTimeInterval(delay), deadline)
      while Date() < resume && !shouldStop() { usleep(100_000) }
      delay = min(delay * 2, 30)
    }
  }

  /// Returns a database error's message and the first line of its detail, for one log line.
  private static func firstLine(of error: any Error) -> String {
    guard let error = error as? PostgresError else { return "\(error)" }
    let message = error.message.split(separator: "\n").first.map(String.init) ?? error.message
    guard let detail = error.detail?.split(separator: "\n").first else { return message }
    return "\(message): \(detail)"
  }

  /// Claims up to `batchSize` unscored requests, scores them (or sets aside those whose
  /// feature arrays do not fit the model) and commits; returns the counts.
  ///
  /// NOTE: a request whose text is not valid UTF-8, which only a SQL_ASCII database can store,
  /// fails the COPY below in every batch that claims it. The worker then stops with that error
  /// instead of setting the request aside.
  private func scoreClaimedBatch(
    dataset: String, createdBy cutoff: String?, model: any ClickModel, modelId: String
  ) throws -> WorkerCounts {
    try connection.transaction {
      try connection.execute(
        """
        CREATE TEMPORARY TABLE claimed_requests (dataset text, request_id text, ad_id text)
        ON COMMIT DROP
        """)
      let claimed = try connection.execute(
        """
        INSERT INTO claimed_requests
        SELECT r.dataset, r.request_id, r.ad_id
        FROM adpilot.ad_requests r
        WHERE r.dataset = $1 AND r.scored_at IS NULL
          AND ($3::timestamptz IS NULL OR r.created_at <= $3::timestamptz)
        ORDER BY r.created_at, r.request_id, r.ad_id
        LIMIT $2
        FOR UPDATE OF r SKIP LOCKED
        """, [.text(dataset), .int64(Int64(batchSize)), cutoff.map(PostgresValue.text) ?? .null])
      guard claimed > 0 else { return WorkerCounts() }

      let encoder = FeatureEncoder(spec: model.spec)
      var batch = EncodedBatch(spec: model.spec, capacity: claimed)
      var keys: [(String, String)] = []
      var rejected: [(requestId: String, adId: String, reason: String)] = []
      _ = try connection.copyOut(
        """
        COPY (
            SELECT r.request_id, r.ad_id, r.cat_values, r.num_values, r.seq_values
            FROM adpilot.ad_requests r
            JOIN claimed_requests c USING (dataset, request_id, ad_id)
            ORDER BY r.request_id, r.ad_id
        ) TO STDOUT (FORMAT binary)
        """
      ) { row in
        let (requestId, adId) = (try row.text(0), try row.text(1))
        switch RequestFeatures.read(row, spec: model.spec, modelId: modelId) {
        case .failure(let problem):
          rejected.append((requestId, adId, problem.reason))
        case .success(let features):
          keys.append((requestId, adId))
          encoder.append(
            cat: features.cat, num: features.num, seq: features.seq, label: 0, to: &batch)
        }
      }
      let scores = model.predict(batch, threads: ProcessInfo.processInfo.activeProcessorCount)

      // A request queued again after an earlier score gets the new one.
      try connection.execute(
        """
        INSERT INTO adpilot.ad_scores (dataset, request_id, ad_id, model_id, score)
        SELECT $5, request_id, ad_id, $1, score
        FROM unnest($2::text[], $3::text[], $4::float8[]) AS t(request_id, ad_id, score)
        ON CONFLICT (dataset, request_id, ad_id) DO UPDATE
        SET model_id = excluded.model_id, score = excluded.score, scored_at = now()
        """,
        [
          .text(modelId), .textArray(keys.map { $0.0 }), .textArray(keys.map { $0.1 }),
          .float8Array(scores.map { Double($0) }), .text(dataset),
        ])
      let setAsideCount = try setAside(
        rejected, dataset: dataset, connection: connection, logger: logger)
      // A request set aside before and scored now loses its old reason.
      try connection.execute(
        """
        UPDATE adpilot.ad_requests r
        SET scored_at = now(), rejected_reason = NULL
        FROM unnest($2::text[], $3::text[]) AS t(request_id, ad_id)
        WHERE r.dataset = $1 AND r.request_id = t.request_id AND r.ad_id = t.ad_id
        """, [.text(dataset), .textArray(keys.map { $0.0 }), .textArray(keys.map { $0.1 })])
      logger.debug("batch scored", ["rows": "\(keys.count)", "model": modelId])
      return WorkerCounts(scored: keys.count, rejected: setAsideCount)
    }
  }
}
