// Scoring in the database with the adpilot extension beside the batch scorer, on the reference
// model of ReferenceBenchmark over random rows it writes to adpilot.ad_requests. It touches only
// the rows, scores, model and alias of the data set `bench_reference`.

import CTR
import Foundation
import Postgres

/// The figures of one `adpilot bench sql` run.
public struct SQLBenchmarkFigures: Sendable {
  /// Request-ad rows scored by each of the two throughput measurements.
  public var rows: Int
  /// Seconds of one `SELECT sum(adpilot.score(...))` over the rows, from the client.
  public var sqlSeconds: Double
  /// Parallel workers the planner chose for that statement (0 when it runs in one backend).
  public var sqlWorkersPlanned: Int
  /// Seconds of one `ScoringJob` run over the same rows, scores written to adpilot.ad_scores.
  public var scoreSeconds: Double
  /// Round-trip milliseconds of each timed `adpilot.score_candidates` statement, in run order.
  public var candidateLatenciesMs: [Double]
  /// Candidate ads per `score_candidates` statement.
  public var candidates: Int

  public var sqlRowsPerSecond: Double { Double(rows) / max(sqlSeconds, 1e-9) }
  public var scoreRowsPerSecond: Double { Double(rows) / max(scoreSeconds, 1e-9) }
  /// SQL rows per second over batch-scorer rows per second.
  public var ratio: Double { sqlRowsPerSecond / scoreRowsPerSecond }
  public var p50Ms: Double { SQLBenchmark.percentile(candidateLatenciesMs, 0.50) }
  public var p90Ms: Double { SQLBenchmark.percentile(candidateLatenciesMs, 0.90) }
  public var p99Ms: Double { SQLBenchmark.percentile(candidateLatenciesMs, 0.99) }
  public var maxMs: Double { candidateLatenciesMs.max() ?? 0 }
}

/// The in-database scoring benchmark of `adpilot bench sql`.
public enum SQLBenchmark {
  /// The data set and model name the benchmark registers and writes rows under.
  public static let dataset = "bench_reference"
  /// Candidate ads per request in the written rows, which share the user, context and history.
  static let adsPerRequest = 10
  /// A fixed request time, so that reruns write the same rows.
  static let requestTime = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01 UTC

  /// Runs the whole benchmark: registers the model, times `requests` candidate-scoring round
  /// trips, writes `rows` rows, times SQL scoring and the batch scorer on them, then deletes
  /// the rows.
  ///
  /// `connect` opens a connection to the database under test; the batch scorer needs two.
  public static func run(
    connect: () throws -> Connection, rows: Int, requests: Int, candidates: Int = 100,
    logger: Logger
  ) throws -> SQLBenchmarkFigures {
    let connection = try connect()
    defer { connection.close() }
    let writer = try connect()
    defer { writer.close() }

    try createExtension(connection)
    try registerChampion(connection)

    // Latency goes first: after the batch scorer writes its scores, autovacuum works on
    // adpilot.ad_scores for seconds and would share the cores with the timed round trips.
    logger.info("timing adpilot.score_candidates", ["requests": "\(requests)"])
    let latencies = try candidateLatencies(
      connection, requests: requests, candidates: candidates, seed: 4)

    logger.info("writing benchmark rows", ["rows": "\(rows)", "dataset": dataset])
    try writeRows(connection, count: rows, seed: 3)
    let workers: Int
    let sqlSeconds: Double
    let scoreSeconds: Double
    do {
      logger.info("timing adpilot.score in SQL", ["rows": "\(rows)"])
      workers = try sqlWorkersPlanned(connection)
      sqlSeconds = try timeSQLScore(connection, expectedRows: rows)
      logger.info("timing the batch scorer", ["rows": "\(rows)"])
      scoreSeconds = try timeBatchScorer(reader: connection, writer: writer, expectedRows: rows)
    } catch {
      // The queued rows would otherwise wait for `adpilot score` until the next run.
      try? deleteRows(connection)
      throw error
    }
    try deleteRows(connection)
    return SQLBenchmarkFigures(
      rows: rows, sqlSeconds: sqlSeconds, sqlWorkersPlanned: workers, scoreSeconds: scoreSeconds,
      candidateLatenciesMs: latencies, candidates: candidates)
  }

  // MARK: - Setup

  /// Creates the extension, or throws an error naming the fix when it is not installed.
  static func createExtension(_ connection: Connection, name: String = "adpilot") throws {
    let statement = "CREATE EXTENSION IF NOT EXISTS \(try connection.quoteIdentifier(name))"
    let failure: PostgresError
    do {
      try connection.execute(statement)
      return
    } catch {
      failure = error
    }
    // PostgreSQL 15.20 raises 0A000 (extension is not available) when the control file is
    // missing. 58P01 (undefined file), the code of a failed file open, is matched as well.
    switch failure.sqlState {
    case "58P01", "0A000":
      throw PipelineError(
        "the PostgreSQL extension '\(name)' is not installed in the database server: "
          + "\(failure.message); install it with `make install-extension` (as root), "
          + "then run the benchmark again")
    case "42501":
      throw PipelineError(
        "CREATE EXTENSION \(name) needs a superuser: \(failure.message); connect as a "
          + "superuser or have one run `CREATE EXTENSION \(name)` in this database")
    default:
      throw failure
    }
  }

  /// Registers the data set and an untrained reference model with fixed weights as its
  /// champion. A rerun finds the identical model already registered and keeps it.
  static func registerChampion(_ connection: Connection) throws {
    let spec = ReferenceBenchmark.spec()
    try registerDataset(
      connection, name: dataset, spec: spec, validation: "time",
      source: "adpilot bench sql: random rows of the reference CTR benchmark")
    var config = TrainingConfig()
    config.attentionHidden = [80, 40]
    config.mlpHidden = [200, 80]
    let model = try AttentionModel(spec: spec, config: config, seed: 1)

    // The registry needs a finite validation log loss, but the model is untrained. This
    // records its loss on one random reference batch, whose labels are 4 % clicks.
    let batch = ReferenceBenchmark.batches(spec: spec, count: 1, batchSize: 1024, seed: 2)[0]
    let logLoss = Metrics.logLoss(predictions: model.predict(batch), labels: batch.labels)

    try connection.transaction {
      try connection.advisoryXactLock(Connection.advisoryKey("adpilot.model:\(dataset)"))
      let registry = ModelRegistry(connection: connection)
      let record = try registry.register(
        model, name: dataset, metrics: ["log_loss_random_batch": logLoss],
        hyperparameters: [
          "attention_hidden": "80,40", "mlp_hidden": "200,80", "seed": "1", "trained": "false",
        ],
        validationLogLoss: logLoss, trainWindow: nil)
      if try registry.alias("champion", of: dataset) != record.id {
        try registry.setAlias(
          "champion", of: dataset, to: record.id,
          reason: "adpilot bench sql: untrained reference model")
      }
    }
  }

  /// Deletes earlier benchmark rows and their scores, then writes `count` random rows of the
  /// reference shapes with binary COPY in one transaction and vacuums the table.
  ///
  /// Rows come in requests of `adsPerRequest` candidate ads that share the user's fields, the
  /// context and a 50-item history. Every value is drawn from its field's bucket range.
  static func writeRows(_ connection: Connection, count: Int, seed: UInt64) throws {
    try deleteRows(connection, vacuum: false)
    let spec = ReferenceBenchmark.spec()
    var values = RandomValues(seed: seed)
    var request: (user: [String?], context: [String?], history: [String?]) = ([], [], [])
    try connection.transaction {
      _ = try connection.copyIn(
        """
        COPY adpilot.ad_requests (request_id, ad_id, dataset, time, user_id, cat_values,
          num_values, seq_values)
        FROM STDIN (FORMAT binary)
        """
      ) { copy in
        for row in 0..<count {
          let requestIndex = row / adsPerRequest
          if row % adsPerRequest == 0 {
            request = (values.userFields(), values.contextFields(), values.history(spec))
          }
          copy.beginRow(8)
          copy.writeText("\(dataset)-r\(requestIndex)")
          copy.writeText("\(dataset)-ad\(row)")
          copy.writeText(dataset)
          copy.writeTimestamptz(requestTime)
          copy.writeText("\(dataset)-u\(requestIndex)")
          copy.writeTextArray(request.user + values.adFields() + request.context)
          copy.writeFloat8Array([])
          copy.writeTextArray(request.history)
        }
      }
    }
    // Sets hint bits and the visibility map now, so that the first timed scan does not.
    try connection.execute("VACUUM (ANALYZE) adpilot.ad_requests")
  }

  /// Deletes the benchmark's rows of adpilot.ad_requests and their scores.
  static func deleteRows(_ connection: Connection, vacuum: Bool = true) throws {
    try connection.transaction {
      try connection.execute(
        "DELETE FROM adpilot.ad_scores WHERE dataset = $1", [.text(dataset)])
      try connection.execute(
        "DELETE FROM adpilot.ad_requests WHERE dataset = $1", [.text(dataset)])
    }
    // Makes the deleted rows' space reusable by the next run's COPY.
    if vacuum { try connection.execute("VACUUM adpilot.ad_requests, adpilot.ad_scores") }
  }

  // MARK: - Measurements

  static let sqlScoreStatement = """
    SELECT count(*), sum(adpilot.score(dataset, cat_values, num_values, seq_values)::float8)
    FROM adpilot.ad_requests
    WHERE dataset = $1
    """

  /// Returns the parallel workers the planner chooses for the SQL scoring statement.
  static func sqlWorkersPlanned(_ connection: Connection) throws -> Int {
    let plan = try connection.query("EXPLAIN " + sqlScoreStatement, [.text(dataset)])
    for row in plan {
      let line = try row.string(0)
      if let range = line.range(of: "Workers Planned: ") {
        return Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
      }
    }
    return 0
  }

  /// Times one SQL statement that scores every benchmark row, from the client, after loading
  /// the model in the backend with a one-row call.
  static func timeSQLScore(_ connection: Connection, expectedRows: Int) throws -> Double {
    _ = try connection.query(
      """
      SELECT adpilot.score(dataset, cat_values, num_values, seq_values)
      FROM adpilot.ad_requests
      WHERE dataset = $1
      LIMIT 1
      """, [.text(dataset)])
    let started = Date()
    let result = try connection.query(sqlScoreStatement, [.text(dataset)])
    let seconds = Date().timeIntervalSince(started)
    let scored = try result[0].int64(0)
    guard scored == Int64(expectedRows), try result[0].double(1).isFinite else {
      throw PipelineError(
        "adpilot.score scored \(scored) rows of \(dataset), expected \(expectedRows), or "
          + "returned a non-finite sum; check that no other client writes rows of \(dataset)")
    }
    return seconds
  }

  /// Times `adpilot score` over the benchmark rows: ScoringJob reads them, scores them with
  /// the champion and writes the scores to adpilot.ad_scores.
  static func timeBatchScorer(reader: Connection, writer: Connection, expectedRows: Int) throws
    -> Double
  {
    let job = ScoringJob(reader: reader, writer: writer, logger: Logger(minimumLevel: .warning))
    let started = Date()
    let report = try job.run(dataset: dataset)
    let seconds = Date().timeIntervalSince(started)
    guard report.scored == expectedRows else {
      throw PipelineError(
        "the batch scorer scored \(report.scored) rows of \(dataset), expected \(expectedRows); "
          + "check that no other client writes rows or scores of \(dataset)")
    }
    return seconds
  }

  /// Times `requests` round trips of `adpilot.score_candidates` after a warm-up of up to 200,
  /// each scoring `candidates` ads for one user with a shared 50-item history, and returns
  /// the milliseconds of each.
  ///
  /// The statement is prepared once, as an ad server keeps it on its connection. It takes its
  /// arrays as text parameters cast in SQL. They are built before timing from a pool of up to
  /// 1,000 distinct requests that the loop cycles through.
  static func candidateLatencies(
    _ connection: Connection, requests: Int, candidates: Int, seed: UInt64
  ) throws -> [Double] {
    let spec = ReferenceBenchmark.spec()
    var values = RandomValues(seed: seed)
    let adIds = (0..<candidates).map { "ad-\($0)" }
    var pool: [[PostgresValue]] = []
    for _ in 0..<min(requests, 1_000) {
      let user = values.userFields()
      let context = values.contextFields()
      let rows = (0..<candidates).map { _ in
        arrayLiteral(user + values.adFields() + context)
      }
      pool.append([
        .text(dataset), .text(arrayLiteral(adIds)), .text("{" + rows.joined(separator: ",") + "}"),
        .text(arrayLiteral(values.history(spec))),
      ])
    }
    let statement = """
      SELECT ad_id, score
      FROM adpilot.score_candidates($1, $2::text[], $3::text[], '{}'::float8[], $4::text[])
      """

    try connection.prepare("adpilot_bench_candidates", statement)
    var latencies: [Double] = []
    latencies.reserveCapacity(requests)
    let warmUp = min(200, requests)
    for index in 0..<(warmUp + requests) {
      let parameters = pool[index % pool.count]
      let started = DispatchTime.now().uptimeNanoseconds
      let result = try connection.queryPrepared("adpilot_bench_candidates", parameters)
      let elapsed = DispatchTime.now().uptimeNanoseconds - started
      guard result.count == candidates else {
        throw PipelineError(
          "adpilot.score_candidates returned \(result.count) rows for \(candidates) candidates")
      }
      if index >= warmUp { latencies.append(Double(elapsed) / 1e6) }
    }
    return latencies
  }

  /// Returns the nearest-rank percentile `p` (0 to 1) of `values`, 0 for no values.
  static func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let rank = Int((p * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
  }

  /// Returns a one-dimensional array literal of values that need no quoting (digits, letters
  /// and hyphens).
  static func arrayLiteral(_ values: [String?]) -> String {
    "{" + values.map { $0 ?? "NULL" }.joined(separator: ",") + "}"
  }
}

/// Random field values of the reference spec, drawn from each field's bucket range as
/// ReferenceBenchmark.batches draws them, as decimal strings.
struct RandomValues {
  var random: SeededGenerator
  /// Decimal strings of 0 to 9,999, the largest bucket count of the reference spec.
  let digits = (0..<10_000).map { String($0) }

  init(seed: UInt64) {
    random = SeededGenerator(seed: seed)
  }

  mutating func value(below bound: Int) -> String? {
    digits[Int.random(in: 0..<bound, using: &random)]
  }

  /// Draws the 8 user fields, 10,000 buckets each.
  mutating func userFields() -> [String?] {
    (0..<8).map { _ in value(below: 10_000) }
  }

  /// Draws ad_category (1,000 buckets), then ad_brand and ad_0 to ad_2 (10,000 buckets each).
  mutating func adFields() -> [String?] {
    [value(below: 1_000)] + (0..<4).map { _ in value(below: 10_000) }
  }

  /// Draws the 3 context fields, 100 buckets each.
  mutating func contextFields() -> [String?] {
    (0..<3).map { _ in value(below: 100) }
  }

  /// Draws a full-length history, item-major: each item's category (below 1,000), then its
  /// brand (below 10,000).
  mutating func history(_ spec: FeatureSpec) -> [String?] {
    var items: [String?] = []
    items.reserveCapacity(spec.maxSequenceLength * 2)
    for _ in 0..<spec.maxSequenceLength {
      items.append(value(below: 1_000))
      items.append(value(below: 10_000))
    }
    return items
  }
}
