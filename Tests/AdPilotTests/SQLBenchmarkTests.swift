// Tests of `adpilot bench sql` on the test cluster with a few thousand rows: the benchmark rows'
// SQL scores equal the batch scorer's bit for bit, reruns replace the rows, and the latency
// figures are sane. The suite that calls the extension runs only with ADPILOT_TEST_EXTENSION=1.

import CTR
import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot
@testable import adpilot

@Suite(
  .serialized,
  .enabled(
    if: ProcessInfo.processInfo.environment["ADPILOT_TEST_EXTENSION"] == "1",
    "needs ADPILOT_TEST_EXTENSION=1 and the installed extension: run `make test-extension`"))
struct SQLBenchmarkTests {
  static let suite = "sql_benchmark"
  static let dataset = [PostgresValue.text(SQLBenchmark.dataset)]

  func connect() throws -> Connection {
    try TestDatabase.connect(suite: Self.suite)
  }

  func count(_ connection: Connection, _ sql: String) throws -> Int64 {
    try connection.query(sql, Self.dataset)[0].int64(0)
  }

  @Test func sqlScoresEqualBatchScorer() throws {
    let connection = try connect()
    defer { connection.close() }
    let writer = try connect()
    defer { writer.close() }
    try SQLBenchmark.createExtension(connection)
    try SQLBenchmark.registerChampion(connection)
    try SQLBenchmark.writeRows(connection, count: 2_000, seed: 3)

    #expect(try SQLBenchmark.timeSQLScore(connection, expectedRows: 2_000) > 0)
    #expect(
      try SQLBenchmark.timeBatchScorer(reader: connection, writer: writer, expectedRows: 2_000)
        > 0)
    let rows = try connection.query(
      """
      SELECT count(*),
             count(*) FILTER (
                 WHERE float4send(s.score) = float4send(
                     adpilot.score(r.dataset, r.cat_values, r.num_values, r.seq_values)))
      FROM adpilot.ad_requests r
      JOIN adpilot.ad_scores s USING (dataset, request_id, ad_id)
      WHERE r.dataset = $1
      """, Self.dataset)
    #expect(try rows[0].int64(0) == 2_000)
    #expect(try rows[0].int64(1) == 2_000)
    try SQLBenchmark.deleteRows(connection)
  }

  @Test func rowsHaveReferenceShapes() throws {
    let connection = try connect()
    defer { connection.close() }
    try SQLBenchmark.registerChampion(connection)
    try SQLBenchmark.writeRows(connection, count: 95, seed: 3)
    let rows = try connection.query(
      """
      SELECT count(*),
             count(DISTINCT request_id),
             count(*) FILTER (WHERE cardinality(cat_values) = 16),
             count(*) FILTER (WHERE cardinality(num_values) = 0),
             count(*) FILTER (WHERE cardinality(seq_values) = 100)
      FROM adpilot.ad_requests
      WHERE dataset = $1
      """, Self.dataset)[0]
    #expect(try rows.int64(0) == 95)
    #expect(try rows.int64(1) == 10)
    #expect(try rows.int64(2) == 95)
    #expect(try rows.int64(3) == 95)
    #expect(try rows.int64(4) == 95)
    let histories = try count(
      connection,
      """
      SELECT count(DISTINCT seq_values)
      FROM adpilot.ad_requests
      WHERE dataset = $1 AND request_id = $1 || '-r0'
      """)
    #expect(histories == 1)
    try SQLBenchmark.deleteRows(connection)
  }

  @Test func rerunReplacesRowsAndKeepsModel() throws {
    let connection = try connect()
    defer { connection.close() }
    try SQLBenchmark.registerChampion(connection)
    let champion = try ModelRegistry(connection: connection).alias(
      "champion", of: SQLBenchmark.dataset)
    try SQLBenchmark.writeRows(connection, count: 300, seed: 3)
    try SQLBenchmark.registerChampion(connection)
    try SQLBenchmark.writeRows(connection, count: 200, seed: 3)

    let rowCount = try count(
      connection, "SELECT count(*) FROM adpilot.ad_requests WHERE dataset = $1")
    let modelCount = try count(
      connection, "SELECT count(*) FROM adpilot.models WHERE name = $1")
    #expect(rowCount == 200)
    #expect(modelCount == 1)
    #expect(
      try ModelRegistry(connection: connection).alias("champion", of: SQLBenchmark.dataset)
        == champion)
    try SQLBenchmark.deleteRows(connection)
  }

  @Test func runReportsFiguresAndDeletesRows() throws {
    let figures = try SQLBenchmark.run(
      connect: connect, rows: 500, requests: 30, logger: Logger(minimumLevel: .warning))
    #expect(figures.rows == 500)
    #expect(figures.candidates == 100)
    #expect(figures.candidateLatenciesMs.count == 30)
    #expect(figures.candidateLatenciesMs.allSatisfy { $0 > 0 })
    #expect(figures.p50Ms > 0)
    #expect(figures.p50Ms <= figures.p90Ms)
    #expect(figures.p90Ms <= figures.p99Ms)
    #expect(figures.p99Ms <= figures.maxMs)
    #expect(figures.sqlRowsPerSecond > 0)
    #expect(figures.scoreRowsPerSecond > 0)

    let connection = try connect()
    defer { connection.close() }
    let left = try count(
      connection, "SELECT count(*) FROM adpilot.ad_requests WHERE dataset = $1")
    let scores = try count(
      connection,
      "SELECT count(*) FROM adpilot.ad_scores WHERE request_id LIKE $1 || '-r%'")
    #expect(left == 0)
    #expect(scores == 0)
  }
}

@Test func sqlBenchMissingExtensionNamesFix() throws {
  let connection = try TestDatabase.connect(suite: "sql_benchmark_missing")
  defer { connection.close() }
  do {
    try SQLBenchmark.createExtension(connection, name: "adpilot_not_installed")
    Issue.record("CREATE EXTENSION of a missing extension did not fail")
  } catch let error as PipelineError {
    #expect(error.message.contains("'adpilot_not_installed' is not installed"))
    #expect(error.message.contains("make install-extension"))
  }
}

@Test func sqlBenchPercentileIsNearestRank() {
  let values = (1...100).reversed().map(Double.init)
  #expect(SQLBenchmark.percentile(values, 0.50) == 50)
  #expect(SQLBenchmark.percentile(values, 0.99) == 99)
  #expect(SQLBenchmark.percentile(values, 1.00) == 100)
  #expect(SQLBenchmark.percentile([7, 3], 0.50) == 3)
  #expect(SQLBenchmark.percentile([7, 3], 0.99) == 7)
  #expect(SQLBenchmark.percentile([], 0.99) == 0)
}

@Test func sqlBenchRejectsZeroRows() {
  #expect(Tool.main(["bench", "sql", "--rows", "0"], environment: [:]) == 2)
  #expect(Tool.main(["bench", "sql", "--requests", "0"], environment: [:]) == 2)
}
