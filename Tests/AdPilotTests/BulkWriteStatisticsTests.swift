// Planner statistics after bulk writes on a real PostgreSQL. The generator, request queuing,
// the batch scorer (queue and query) and the worker run ANALYZE on adpilot.ad_scores and
// adpilot.ad_requests. They do so once a step changes at least bulkWriteAnalyzeThreshold rows of
// a table and a tenth of the rows its statistics count.
// pg_stat_user_tables.analyze_count counts manual ANALYZE only, never autovacuum's. ANALYZE
// (SKIP_LOCKED) skips a table while autovacuum works on it, so the suite's database turns
// autovacuum off for both tables, and the counts do not depend on when autovacuum runs.

import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot

@Suite(.serialized)
struct BulkWriteStatisticsTests {
  static let suite = "bulk_write_statistics"

  /// The statistics of one table: the planner's row count and the number of manual ANALYZEs.
  struct TableStatistics: Equatable {
    var reltuples: Double
    var analyzeCount: Int64
  }

  /// The statistics observed after each step of the shared set-up.
  struct Prepared: Sendable {
    var impressions: Int
    var requestsAfterGenerate: Int64
    var afterGenerate: [String: TableStatistics]
    var queued: Int
    var requestsAfterQueue: Int64
    var afterQueue: [String: TableStatistics]
  }

  /// Generates 10,000 requests and about 12,000 impressions, queues the impressions as requests
  /// and trains a champion, once per suite.
  static let prepared: Result<Prepared, any Error> = Result {
    let connection = try TestDatabase.connect(suite: suite)
    defer { connection.close() }
    for table in ["adpilot.ad_scores", "adpilot.ad_requests"] {
      try connection.execute("ALTER TABLE \(table) SET (autovacuum_enabled = false)")
    }
    let config = SyntheticConfig(
      users: 400, ads: 40, days: 4, impressionsPerDay: 3_000, maxSequenceLength: 4, seed: 11,
      requests: 2_500, candidatesPerRequest: 4)
    try SyntheticGenerator(config).generate(into: connection)
    let impressions = try connection.query("SELECT count(*) FROM adpilot.impressions")[0]
      .int64(0)
    let requestsAfterGenerate = try countRequests(connection)
    let afterGenerate = try statistics(connection)

    let job = ScoringJob(reader: connection, writer: connection, logger: Logger())
    let queued = try job.queueRequests(
      fromImpressionsOf: "synthetic", split: nil, limit: 20_000
    ).added
    let requestsAfterQueue = try countRequests(connection)
    let afterQueue = try statistics(connection)

    var options = TrainOptions(dataset: "synthetic")
    options.maxEpochs = 1
    options.batchSize = 256
    _ = try TrainingPipeline(connection: connection, logger: Logger(minimumLevel: .warning))
      .run(options)
    return Prepared(
      impressions: Int(impressions), requestsAfterGenerate: requestsAfterGenerate,
      afterGenerate: afterGenerate,
      queued: queued, requestsAfterQueue: requestsAfterQueue, afterQueue: afterQueue)
  }

  static func countRequests(_ connection: Connection) throws -> Int64 {
    try connection.query("SELECT count(*) FROM adpilot.ad_requests")[0].int64(0)
  }

  /// Returns the statistics of ad_scores and ad_requests, keyed by table name.
  static func statistics(_ connection: Connection) throws -> [String: TableStatistics] {
    let rows = try connection.query(
      """
      SELECT c.relname::text, c.reltuples::float8, s.analyze_count
      FROM pg_class c
      JOIN pg_stat_user_tables s ON s.relid = c.oid
      WHERE c.oid IN ('adpilot.ad_scores'::regclass, 'adpilot.ad_requests'::regclass)
      """)
    var result: [String: TableStatistics] = [:]
    for row in rows {
      result[try row.string(0)] = TableStatistics(
        reltuples: try row.double(1), analyzeCount: try row.int64(2))
    }
    return result
  }

  /// Deletes every score and queues every request again.
  static func resetScores(_ connection: Connection) throws {
    try connection.execute("DELETE FROM adpilot.ad_scores")
    try connection.execute(
      "UPDATE adpilot.ad_requests SET scored_at = NULL, rejected_reason = NULL")
  }

  @Test func generatorAnalyzesRequests() throws {
    let prepared = try Self.prepared.get()
    #expect(prepared.requestsAfterGenerate == 10_000)
    let requests = try #require(prepared.afterGenerate["ad_requests"])
    #expect(requests.analyzeCount == 1)
    #expect(requests.reltuples == 10_000)
    // The run deleted no scores, so ad_scores is left to autovacuum.
    #expect(prepared.afterGenerate["ad_scores"]?.analyzeCount == 0)
  }

  @Test func queueingAnalyzesLargeInsert() throws {
    let prepared = try Self.prepared.get()
    #expect(prepared.queued == prepared.impressions)
    #expect(prepared.queued >= bulkWriteAnalyzeThreshold)
    #expect(prepared.requestsAfterQueue == 10_000 + Int64(prepared.impressions))
    let requests = try #require(prepared.afterQueue["ad_requests"])
    #expect(requests.analyzeCount == 2)
    #expect(requests.reltuples == Double(prepared.requestsAfterQueue))
  }

  @Test func queueingSkipsAnalyzeOfSmallInsert() throws {
    _ = try Self.prepared.get()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    try connection.execute(
      """
      DELETE FROM adpilot.ad_requests
      WHERE request_id IN (SELECT request_id FROM adpilot.impressions ORDER BY time LIMIT 20)
      """)
    let before = try Self.statistics(connection)

    let job = ScoringJob(reader: connection, writer: connection, logger: Logger())
    let queued = try job.queueRequests(
      fromImpressionsOf: "synthetic", split: nil, limit: 20_000)
    #expect(queued.added == 20)
    #expect(try Self.statistics(connection) == before)
  }

  @Test func batchScoringAnalyzesBothTables() throws {
    let queued = Double(try Self.prepared.get().requestsAfterQueue)
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let writer = try TestDatabase.connect(suite: Self.suite)
    defer { writer.close() }
    try Self.resetScores(connection)
    let before = try Self.statistics(connection)

    let job = ScoringJob(reader: connection, writer: writer, logger: Logger())
    let report = try job.run(dataset: "synthetic")
    #expect(Double(report.scored) == queued)
    let after = try Self.statistics(connection)
    let scores = try #require(after["ad_scores"])
    let requests = try #require(after["ad_requests"])
    #expect(scores.analyzeCount == (before["ad_scores"]?.analyzeCount ?? -1) + 1)
    #expect(scores.reltuples == queued)
    #expect(requests.analyzeCount == (before["ad_requests"]?.analyzeCount ?? -1) + 1)
    #expect(requests.reltuples == queued)
  }

  @Test func queryScoringAnalyzesScores() throws {
    _ = try Self.prepared.get()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let writer = try TestDatabase.connect(suite: Self.suite)
    defer { writer.close() }
    try Self.resetScores(connection)
    let before = try Self.statistics(connection)

    // New request ids, so the scores match no queued request and ad_requests is unchanged.
    let job = ScoringJob(reader: connection, writer: writer, logger: Logger())
    let report = try job.run(
      dataset: "synthetic",
      query: """
        SELECT 'query-' || request_id AS request_id, ad_id, cat_values, num_values, seq_values
        FROM adpilot.ad_requests
        ORDER BY request_id, ad_id
        LIMIT 10000
        """)
    #expect(report.scored == 10_000)
    let after = try Self.statistics(connection)
    let scores = try #require(after["ad_scores"])
    #expect(scores.analyzeCount == (before["ad_scores"]?.analyzeCount ?? -1) + 1)
    #expect(scores.reltuples == 10_000)
    #expect(after["ad_requests"] == before["ad_requests"])
  }

  @Test func workerAnalyzesAfterEachThresholdOfRows() throws {
    let queued = try Self.prepared.get().requestsAfterQueue
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    try Self.resetScores(connection)
    let before = try Self.statistics(connection)

    // Batches of 2,048 reach the threshold at 10,240 and 20,480 of the 22,000 or so requests.
    var worker = ScoringWorker(connection: connection, logger: Logger())
    worker.batchSize = 2_048
    #expect(queued > 20_480)
    #expect(queued < 30_720)
    #expect(try worker.drain(dataset: "synthetic").scored == Int(queued))
    let after = try Self.statistics(connection)
    let scores = try #require(after["ad_scores"])
    let requests = try #require(after["ad_requests"])
    #expect(scores.analyzeCount == (before["ad_scores"]?.analyzeCount ?? -1) + 2)
    #expect(scores.reltuples == 20_480)
    #expect(requests.analyzeCount == (before["ad_requests"]?.analyzeCount ?? -1) + 2)
  }
}

extension BulkWriteStatisticsTests {
  @Test func analyzeWaitsForTenthOfTable() throws {
    _ = try Self.prepared.get()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    // The planner's count as if the table held a million rows; the test role is a superuser.
    try connection.execute(
      "UPDATE pg_class SET reltuples = 1000000 WHERE oid = 'adpilot.ad_scores'::regclass")
    let before = try #require(try Self.statistics(connection)["ad_scores"])
    #expect(before.reltuples == 1_000_000)

    let small = analyzeAfterBulkWrite(
      connection, table: .adScores, changedRows: 99_999, logger: Logger())
    #expect(!small)
    #expect(try Self.statistics(connection)["ad_scores"] == before)

    let large = analyzeAfterBulkWrite(
      connection, table: .adScores, changedRows: 100_000, logger: Logger())
    #expect(large)
    let after = try #require(try Self.statistics(connection)["ad_scores"])
    #expect(after.analyzeCount == before.analyzeCount + 1)
    #expect(after.reltuples < 1_000_000)
  }
}
