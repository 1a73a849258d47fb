// The main job end to end on a real PostgreSQL: generate synthetic logs, sync campaigns, train,
// allocate the next day, queue and score requests, then check the stored results against the
// invariants users rely on.

import Allocation
import CTR
import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing

@testable import AdPilot
@testable import adpilot

@Suite(.serialized)
struct EndToEndTests {
  static let suite = "end_to_end"

  /// Runs the pipeline once per suite; later tests read what it stored.
  static let prepared: Result<Prepared, any Error> = Result { try Prepared.make() }

  struct Prepared: Sendable {
    var train: TrainOutcome
    var allocation: AllocationOutcome

    static func make() throws -> Prepared {
      let connection = try TestDatabase.connect(suite: EndToEndTests.suite)
      defer { connection.close() }
      let logger = Logger(minimumLevel: .warning)
      let config = SyntheticConfig(
        users: 600, ads: 60, days: 3, impressionsPerDay: 3_000, maxSequenceLength: 8,
        seed: 7, requests: 100, candidatesPerRequest: 4)
      try SyntheticGenerator(config).generate(into: connection)
      _ = try syncCampaigns(connection, directory: try ProjectPaths.campaignsDirectory)

      var trainOptions = TrainOptions(dataset: "synthetic")
      trainOptions.maxEpochs = 1
      trainOptions.batchSize = 256
      let train = try TrainingPipeline(connection: connection, logger: logger).run(trainOptions)

      let planner = AllocationPipeline(connection: connection, logger: logger)
      let date = try planner.nextDay(after: "synthetic")
      let allocation = try planner.run(AllocateOptions(dataset: "synthetic", date: date))
      return Prepared(train: train, allocation: allocation)
    }
  }

  func prepared() throws -> Prepared {
    try Self.prepared.get()
  }

  @Test func championIsRegistered() throws {
    let outcome = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let registry = ModelRegistry(connection: connection)
    let champion = try #require(outcome.train.champion)
    #expect(try registry.alias("champion", of: "synthetic") == champion.id)
    #expect(try registry.list(name: "synthetic").count == 2)
  }

  @Test func pacingAddsUpToEachAllocation() throws {
    let outcome = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let rows = try connection.query(
      """
      SELECT a.campaign_id, a.amount_micros, coalesce(sum(p.spend_micros), 0)::bigint
      FROM adpilot.allocations a
      LEFT JOIN adpilot.pacing_plans p USING (run_id, campaign_id)
      WHERE a.run_id = $1::uuid
      GROUP BY a.campaign_id, a.amount_micros
      """, [.uuid(outcome.allocation.runId)])
    #expect(rows.count == outcome.allocation.campaigns.count)
    for row in rows {
      let campaign = try row.string(0)
      #expect(try row.int64(1) == row.int64(2), "campaign \(campaign)")
    }
  }

  @Test func allocationsRespectCapsAndTotals() throws {
    let outcome = try prepared()
    let result = outcome.allocation.result
    for allocation in result.allocations {
      #expect(allocation.amountMicros <= allocation.capMicros, "\(allocation.campaignId)")
      #expect(allocation.amountMicros >= 0)
    }
    let expected = min(result.totalBudgetMicros, result.sumOfCapsMicros, result.absorbableMicros)
    #expect(result.allocatedMicros == expected)
    #expect(result.allocations.map(\.amountMicros).reduce(0, +) == expected)

    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let stored = try connection.query(
      "SELECT sum(amount_micros)::bigint FROM adpilot.allocations WHERE run_id = $1::uuid",
      [.uuid(outcome.allocation.runId)])
    #expect(try stored[0].int64(0) == expected)
  }

  @Test func secondPlanSupersedesFirst() throws {
    let outcome = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let planner = AllocationPipeline(connection: connection, logger: Logger(minimumLevel: .error))
    let second = try planner.run(
      AllocateOptions(dataset: "synthetic", date: outcome.allocation.planDate))
    let runs = try connection.query(
      """
      SELECT id::text, status
      FROM adpilot.plan_runs
      WHERE dataset = 'synthetic' AND plan_date = $1::date
      ORDER BY created_at
      """, [.date(outcome.allocation.planDate)])
    let current = try runs.filter { try $0.string(1) == "current" }.map { try $0.string(0) }
    #expect(current == [second.runId])
    #expect(runs.count >= 2)
  }

  @Test func scoresEqualEvaluationBitForBit() throws {
    let outcome = try prepared()
    let reader = try TestDatabase.connect(suite: Self.suite)
    defer { reader.close() }
    let writer = try TestDatabase.connect(suite: Self.suite)
    defer { writer.close() }

    // Queue the validation day's impressions as requests, then score them.
    let job = ScoringJob(reader: reader, writer: writer, logger: Logger(minimumLevel: .error))
    _ = try writer.execute("DELETE FROM adpilot.ad_scores")
    let windows = try TrainingPipeline(connection: reader, logger: Logger()).trainingWindows(
      outcome.train.dataset)
    let queued = try writer.execute(
      """
      INSERT INTO adpilot.ad_requests
          (request_id, ad_id, dataset, time, user_id, cat_values, num_values, seq_values)
      SELECT 'eval-' || request_id, coalesce(ad_id, ''), dataset, time, user_id, cat_values,
             num_values, seq_values
      FROM adpilot.impressions
      WHERE dataset = 'synthetic' AND time >= $1
      ON CONFLICT DO NOTHING
      """, [.timestamptz(windows.validation.from ?? Date())])
    #expect(queued > 0)
    let report = try job.run(dataset: "synthetic")
    #expect(report.modelId == outcome.train.champion?.id)
    #expect(report.scored >= queued)
    let unmarked = try reader.query(
      """
      SELECT count(*) FROM adpilot.ad_requests
      WHERE request_id LIKE 'eval-%' AND scored_at IS NULL
      """)
    #expect(try unmarked[0].int64(0) == 0)

    // The evaluation path: the same rows streamed in the trainer's order and batch size.
    let model = try ModelRegistry(connection: reader).load(id: report.modelId)
    let encoder = FeatureEncoder(spec: model.spec)
    var ids: [String] = []
    var batch = EncodedBatch(spec: model.spec, capacity: 4096)
    var expected: [String: Float] = [:]
    try streamImpressions(reader, windows.validation) { row in
      ids.append("eval-" + row.requestId)
      encoder.append(cat: row.cat, num: row.num, seq: row.seq, label: row.label, to: &batch)
      if batch.count == 4096 {
        for (id, score) in zip(ids, model.predict(batch)) { expected[id] = score }
        ids.removeAll()
        batch.removeAll()
      }
    }
    for (id, score) in zip(ids, model.predict(batch)) { expected[id] = score }

    let stored = try reader.query(
      "SELECT request_id, score::float8 FROM adpilot.ad_scores WHERE request_id LIKE 'eval-%'")
    #expect(stored.count == expected.count)
    var mismatches = 0
    for row in stored {
      let score = Float(try row.double(1))
      if expected[try row.string(0)]?.bitPattern != score.bitPattern { mismatches += 1 }
    }
    #expect(mismatches == 0)
  }

  /// Runs `body` with a scoring job on two new connections to the prepared database.
  func withScoringJob(_ body: (ScoringJob, Connection, Connection) throws -> Void) throws {
    _ = try prepared()
    let reader = try TestDatabase.connect(suite: Self.suite)
    defer { reader.close() }
    let writer = try TestDatabase.connect(suite: Self.suite)
    defer { writer.close() }
    let job = ScoringJob(reader: reader, writer: writer, logger: Logger(minimumLevel: .error))
    try body(job, reader, writer)
  }

  /// Queues `count` copies of the first queued synthetic request as `prefix-1`, `prefix-2`, ...
  /// with ad id 'ad'.
  func queueCopies(_ connection: Connection, prefix: String, count: Int) throws {
    try connection.execute(
      """
      INSERT INTO adpilot.ad_requests
          (request_id, ad_id, dataset, time, cat_values, num_values, seq_values)
      SELECT $1 || '-' || n, 'ad', r.dataset, r.time, r.cat_values, r.num_values, r.seq_values
      FROM (SELECT * FROM adpilot.ad_requests WHERE dataset = 'synthetic'
            ORDER BY request_id, ad_id LIMIT 1) AS r, generate_series(1, $2) AS n
      """, [.text(prefix), .int32(Int32(count))])
  }

  /// Counts the synthetic requests still queued.
  static let pendingSynthetic =
    "SELECT count(*) FROM adpilot.ad_requests WHERE dataset = 'synthetic' AND scored_at IS NULL"

  /// Queues the first `count` scorable synthetic requests again, as if never scored.
  func queueAgain(_ connection: Connection, count: Int) throws {
    try connection.execute(
      """
      UPDATE adpilot.ad_requests SET scored_at = NULL
      WHERE dataset = 'synthetic'
        AND (request_id, ad_id) IN (
          SELECT request_id, ad_id FROM adpilot.ad_requests
          WHERE dataset = 'synthetic' AND rejected_reason IS NULL
          ORDER BY request_id, ad_id LIMIT $1)
      """, [.int32(Int32(count))])
  }

  /// Deletes the requests whose id starts with `prefix-`, and their scores.
  func deleteQueued(_ connection: Connection, prefix: String) {
    for table in ["ad_scores", "ad_requests"] {
      _ = try? connection.execute(
        "DELETE FROM adpilot.\(table) WHERE request_id LIKE $1 || '-%'", [.text(prefix)])
    }
  }

  @Test func scoringRejectsForeignLayout() throws {
    try withScoringJob { job, reader, _ in
      let query = """
        SELECT 'foreign-1' AS request_id, 'ad' AS ad_id, ARRAY['a', 'b'] AS cat_values,
               '{}'::float8[] AS num_values, '{}'::text[] AS seq_values
        """
      do {
        _ = try job.run(dataset: "synthetic", query: query)
        Issue.record("a row with 2 categorical values was scored by a 16-field model")
      } catch let error as PipelineError {
        #expect(error.message.contains("request 'foreign-1'"))
        #expect(error.message.contains("2 categorical"))
      }
      let stored = try reader.query(
        "SELECT count(*) FROM adpilot.ad_scores WHERE request_id = 'foreign-1'")
      #expect(try stored[0].int64(0) == 0)
    }
  }

  @Test func scoringQueryIsReadByColumnName() throws {
    try withScoringJob { job, reader, _ in
      let impression = """
        SELECT request_id, ad_id, cat_values, num_values, seq_values
        FROM adpilot.impressions WHERE dataset = 'synthetic' ORDER BY time, request_id LIMIT 1
        """
      let stored = """
        SELECT request_id, ad_id, score FROM adpilot.ad_scores WHERE request_id LIKE 'named-%'
        """

      // Columns in another order, with an extra one, are matched by name.
      let swapped = """
        SELECT seq_values, num_values, cat_values, 'ad-x' AS ad_id, 7 AS extra,
               'named-' || request_id AS request_id
        FROM (\(impression)) AS one
        """
      _ = try job.run(dataset: "synthetic", query: swapped)
      let rows = try reader.query(stored)
      #expect(rows.count == 1)
      #expect(try rows.first?.string(0).hasPrefix("named-") == true)
      #expect(try rows.first?.string(1) == "ad-x")

      // A trailing semicolon ends the caller's statement, not the wrapping one, and a trailing
      // comment ends with the caller's last line.
      _ = try job.run(dataset: "synthetic", query: swapped + " ; \n")
      _ = try job.run(dataset: "synthetic", query: swapped + " -- renamed ids")
      _ = try job.run(dataset: "synthetic", query: swapped + "; -- renamed ids\n-- twice;")
      #expect(try reader.query(stored).count == 1)

      // A missing name, a NULL array and a repeated pair fail with a message and write nothing.
      let seqCount = try reader.query(
        "SELECT cardinality(seq_values) FROM (\(impression)) AS one")[0].int64(0)
      let modelId = try reader.query(
        "SELECT model_id FROM adpilot.model_aliases WHERE name = 'synthetic' AND alias = 'champion'"
      )[0].string(0)
      let failures: [(query: String, message: String)] = [
        (
          "SELECT 'named-2' AS request_id, 'ad' AS ad, cat_values, num_values, seq_values "
            + "FROM (\(impression)) AS one",
          "the scoring query failed: column \"ad_id\" does not exist; name its columns "
            + "request_id, ad_id, cat_values, num_values and seq_values (with AS where needed)"
        ),
        (
          "SELECT 'named-3' AS request_id, 'ad' AS ad_id, cat_values, num_values, "
            + "NULL::text[] AS seq_values FROM (\(impression)) AS one",
          "the scoring query returned NULL in column seq_values for request 'named-3', ad 'ad'; "
            + "return a value in every row, such as '{}' for an empty array"
        ),
        (
          "SELECT NULL::text AS request_id, 'ad' AS ad_id, cat_values, num_values, seq_values "
            + "FROM (\(impression)) AS one",
          "the scoring query returned NULL in column request_id; return a value in every row, "
            + "such as a text id"
        ),
        (
          "SELEC request_id FROM adpilot.impressions",
          "the scoring query failed: syntax error at or near \"FROM\"; it runs as a subquery "
            + "inside COPY, so give one SELECT statement, and run it alone in psql to see where "
            + "it fails"
        ),
        (
          "SELECT 'named-5' AS request_id, 'ad' AS ad_id, cat_values, ARRAY['x'] AS num_values, "
            + "seq_values FROM (\(impression)) AS one",
          "the scoring query failed: invalid input syntax for type double precision: \"x\"; "
            + "check the query's own casts and literals, and return cat_values and seq_values "
            + "as text[] and num_values as float8[]"
        ),
        (
          "SELECT 'named-6' AS request_id, 'ad' AS ad_id, cat_values, num_values, seq_values "
            + "FROM (\(impression)) AS one WHERE 1 / 0 = 1",
          "the scoring query failed: division by zero; run it alone in psql to see where it fails"
        ),
        (
          "SELECT 'named-7' AS request_id, 'ad' AS ad_id, cat_values || 'extra'::text AS "
            + "cat_values, num_values, seq_values FROM (\(impression)) AS one",
          "request 'named-7', ad 'ad': feature arrays have 17 categorical, 0 numeric and "
            + "\(seqCount) sequence values, but model \(modelId) expects 16 categorical, 0 "
            + "numeric and a multiple of 2 sequence values; return rows in the layout of its "
            + "feature spec, or score with a model of this layout"
        ),
        (
          "SELECT 'named-4' AS request_id, 'ad' AS ad_id, cat_values, num_values, seq_values "
            + "FROM ((\(impression)) UNION ALL (\(impression))) AS two",
          "the scoring query returned a request_id and ad_id pair more than once; return each "
            + "pair once, for example with SELECT DISTINCT ON (request_id, ad_id)"
        ),
      ]
      for (query, message) in failures {
        do {
          _ = try job.run(dataset: "synthetic", query: query)
          Issue.record("scoring query did not fail: \(query)")
        } catch let error as PipelineError {
          #expect(error.message == message)
        }
      }
      #expect(try reader.query(stored).count == 1)
    }
  }

  @Test func dataModifyingScoringQueryFails() throws {
    try withScoringJob { job, reader, writer in
      _ = try writer.execute(
        "CREATE TABLE IF NOT EXISTS public.scoring_victim AS SELECT 1 AS id")
      let before = try reader.query("SELECT count(*) FROM public.scoring_victim")[0].int64(0)
      #expect(before == 1)
      // A volatile function call that writes runs inside the read-only transaction and fails.
      _ = try writer.execute(
        """
        CREATE OR REPLACE FUNCTION public.scoring_side_effect() RETURNS text
        LANGUAGE sql AS 'DELETE FROM public.scoring_victim RETURNING ''x'''
        """)
      let query = """
        SELECT public.scoring_side_effect() AS request_id, 'ad' AS ad_id, cat_values, num_values,
               seq_values
        FROM adpilot.impressions WHERE dataset = 'synthetic' LIMIT 1
        """
      do {
        _ = try job.run(dataset: "synthetic", query: query)
        Issue.record("a scoring query that deletes rows did not fail")
      } catch let error as PipelineError {
        #expect(
          error.message
            == "the scoring query failed: cannot execute DELETE in a read-only transaction; it "
            + "runs read-only, so it may select rows but never change them")
      }
      // Text that closes the wrapping COPY and appends statements of its own is one statement
      // too many for the extended protocol, so nothing after the COPY runs.
      let escape = """
        SELECT request_id, ad_id, cat_values, num_values, seq_values
        FROM adpilot.impressions WHERE dataset = 'synthetic' LIMIT 1) AS q) TO STDOUT
        (FORMAT binary); COMMIT; DELETE FROM public.scoring_victim;
        COPY (SELECT * FROM (SELECT 1 AS x
        """
      do {
        _ = try job.run(dataset: "synthetic", query: escape)
        Issue.record("a scoring query that appends statements did not fail")
      } catch let error as PipelineError {
        #expect(error.message.hasPrefix("the scoring query failed: "), "\(error.message)")
      }
      #expect(try reader.query("SELECT count(*) FROM public.scoring_victim")[0].int64(0) == 1)
    }
  }

  @Test func scoringNamesUnknownDataset() throws {
    try withScoringJob { job, reader, _ in
      let known = try reader.query("SELECT name FROM adpilot.datasets ORDER BY name")
        .map { try $0.string(0) }.joined(separator: ", ")
      let unknown =
        "no data set or model is named 'synthetik'; loaded data sets: \(known); check the "
        + "name, or load the data set with `adpilot import` or `adpilot generate`"
      do {
        _ = try job.run(dataset: "synthetik")
        Issue.record("scoring an unknown name did not fail")
      } catch let error as PipelineError {
        #expect(error.message == unknown)
      }
      let worker = ScoringWorker(connection: reader, logger: Logger(minimumLevel: .error))
      do {
        _ = try worker.drain(dataset: "synthetik")
        Issue.record("a worker for an unknown name did not fail")
      } catch let error as PipelineError {
        #expect(error.message == unknown)
      }
      // A known data set without a model still gets the training hint.
      try reader.execute(
        """
        INSERT INTO adpilot.datasets (name, feature_spec, validation, source)
        SELECT 'untrained', feature_spec, validation, source FROM adpilot.datasets
        WHERE name = 'synthetic' ON CONFLICT DO NOTHING
        """)
      defer { _ = try? reader.execute("DELETE FROM adpilot.datasets WHERE name = 'untrained'") }
      do {
        _ = try job.run(dataset: "untrained")
        Issue.record("scoring a data set without a champion did not fail")
      } catch let error as PipelineError {
        #expect(
          error.message
            == "model name 'untrained' has no champion; train one with `adpilot train "
            + "--dataset untrained`")
      }
      // One that logs no features cannot be trained, so it gets no training hint.
      let spec = String(
        decoding: try JSONEncoder().encode(IPinYouStreamImporter.spec), as: UTF8.self)
      try reader.execute(
        """
        INSERT INTO adpilot.datasets (name, feature_spec, validation, source)
        VALUES ('featureless', $1::jsonb, 'time', 'test') ON CONFLICT DO NOTHING
        """, [.text(spec)])
      defer { _ = try? reader.execute("DELETE FROM adpilot.datasets WHERE name = 'featureless'") }
      do {
        _ = try job.run(dataset: "featureless")
        Issue.record("scoring a data set without features did not fail")
      } catch let error as PipelineError {
        #expect(
          error.message
            == "data set 'featureless' logs no features (it carries an outside model's pCTR), "
            + "so no model can score its requests; score requests of a data set with features")
      }
    }
  }

  @Test func summaryNamesUnknownDataset() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let lines = try summaryLines(connection, dataset: "synthetic")
    #expect(lines.first?.hasPrefix("impressions: ") == true)
    do {
      _ = try summaryLines(connection, dataset: "no_such_dataset")
      Issue.record("a summary of an unknown data set did not fail")
    } catch let error as PipelineError {
      #expect(error.message.hasPrefix("data set 'no_such_dataset' not found; loaded data sets: "))
    }
  }

  @Test func summaryCountsRequeuedAsQueued() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let worker = ScoringWorker(connection: connection, logger: Logger(minimumLevel: .error))
    _ = try worker.drain(dataset: "synthetic")
    defer { _ = try? worker.drain(dataset: "synthetic") }
    // Three requests queued again keep their earlier scores until they are scored anew.
    try queueAgain(connection, count: 3)
    let counts = try connection.query(
      """
      SELECT count(*),
             count(*) FILTER (WHERE scored_at IS NOT NULL AND rejected_reason IS NULL),
             count(*) FILTER (WHERE rejected_reason IS NOT NULL)
      FROM adpilot.ad_requests WHERE dataset = 'synthetic'
      """)[0]
    let total = try counts.int64(0)
    let scored = try counts.int64(1)
    let setAside = try counts.int64(2)
    let line = try #require(
      try summaryLines(connection, dataset: "synthetic").last { $0.hasPrefix("ad requests: ") })
    #expect(
      line.hasPrefix(
        "ad requests: \(total), queued: 3, scored: \(scored), set aside: \(setAside), mean score "
      ), "\(line)")
  }

  @Test func summaryListsDatasets() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let lines = try datasetOverviewLines(connection)
    #expect(lines.first == "data set                   impressions  queued  champion")
    let counts = try connection.query(
      """
      SELECT (SELECT count(*) FROM adpilot.impressions WHERE dataset = 'synthetic'),
             (SELECT count(*) FROM adpilot.ad_requests
              WHERE dataset = 'synthetic' AND scored_at IS NULL),
             (SELECT model_id FROM adpilot.model_aliases
              WHERE name = 'synthetic' AND alias = 'champion')
      """)[0]
    let fields = try #require(lines.first { $0.hasPrefix("synthetic ") })
      .split(separator: " ").map(String.init)
    #expect(
      fields == [
        "synthetic", String(try counts.int64(0)), String(try counts.int64(1)),
        try counts.optionalString(2) ?? "none",
      ])
    let names = try connection.query("SELECT name FROM adpilot.datasets ORDER BY name")
      .map { try $0.string(0) }
    #expect(lines.dropFirst().map { String($0.prefix { $0 != " " }) } == names)
  }

  /// Registers `dataset` with the synthetic spec and queues a copy of one synthetic request
  /// in it.
  func queueSyntheticCopy(_ connection: Connection, dataset: String) throws {
    try connection.execute(
      """
      INSERT INTO adpilot.datasets (name, feature_spec, validation, source)
      SELECT $1, feature_spec, validation, source
      FROM adpilot.datasets WHERE name = 'synthetic'
      ON CONFLICT DO NOTHING
      """, [.text(dataset)])
    try connection.execute(
      """
      INSERT INTO adpilot.ad_requests
          (request_id, ad_id, dataset, time, user_id, cat_values, num_values, seq_values)
      SELECT $1 || '-' || request_id, ad_id, $1, time, user_id, cat_values, num_values,
             seq_values
      FROM adpilot.ad_requests WHERE dataset = 'synthetic' ORDER BY request_id, ad_id LIMIT 1
      ON CONFLICT DO NOTHING
      """, [.text(dataset)])
  }

  @Test func scoreSkipsDatasetWithoutChampion() throws {
    _ = try prepared()
    let config = try TestDatabase.config(suite: Self.suite)
    let connection = try Connection(config)
    defer { connection.close() }
    // A second data set with one queued request and no model, beside pending synthetic ones.
    try queueSyntheticCopy(connection, dataset: "no_champion")
    // Queued again: no score and no mark.
    try connection.execute("DELETE FROM adpilot.ad_scores WHERE dataset = 'synthetic'")
    try connection.execute(
      "UPDATE adpilot.ad_requests SET scored_at = NULL WHERE dataset = 'synthetic'")
    let pending = """
      SELECT count(*) FROM adpilot.ad_requests r
      LEFT JOIN adpilot.ad_scores s USING (dataset, request_id, ad_id)
      WHERE r.dataset = $1 AND s.request_id IS NULL
      """
    #expect(try connection.query(pending, [.text("synthetic")])[0].int64(0) > 0)

    #expect(Tool.main(["score"], environment: ["DATABASE_URL": config.url]) == 1)
    #expect(try connection.query(pending, [.text("synthetic")])[0].int64(0) == 0)
    #expect(try connection.query(pending, [.text("no_champion")])[0].int64(0) == 1)
    try connection.execute("DELETE FROM adpilot.ad_requests WHERE dataset = 'no_champion'")
    try connection.execute("DELETE FROM adpilot.datasets WHERE name = 'no_champion'")
  }

  @Test func scoreGoesOnPastBrokenChampion() throws {
    _ = try prepared()
    let config = try TestDatabase.config(suite: Self.suite)
    let connection = try Connection(config)
    defer { connection.close() }
    // A data set listed before synthetic whose champion's weights are cut short, with one
    // queued request, beside pending synthetic ones.
    try queueSyntheticCopy(connection, dataset: "a_broken")
    try connection.execute(
      """
      INSERT INTO adpilot.models (id, name, version, kind, weights, checksum, feature_spec)
      SELECT 'a_broken-v1-cut', 'a_broken', 1, kind, substring(weights FROM 1 FOR 100),
             checksum, feature_spec
      FROM adpilot.models
      WHERE id = (SELECT model_id FROM adpilot.model_aliases
                  WHERE name = 'synthetic' AND alias = 'champion')
      ON CONFLICT DO NOTHING
      """)
    try connection.execute(
      """
      INSERT INTO adpilot.model_aliases (name, alias, model_id)
      VALUES ('a_broken', 'champion', 'a_broken-v1-cut')
      ON CONFLICT DO NOTHING
      """)
    defer {
      for table in ["ad_requests WHERE dataset", "model_aliases WHERE name", "models WHERE name"] {
        _ = try? connection.execute("DELETE FROM adpilot.\(table) = 'a_broken'")
      }
      _ = try? connection.execute("DELETE FROM adpilot.datasets WHERE name = 'a_broken'")
    }
    try connection.execute("DELETE FROM adpilot.ad_scores WHERE dataset = 'synthetic'")
    try connection.execute(
      "UPDATE adpilot.ad_requests SET scored_at = NULL WHERE dataset = 'synthetic'")
    let queued = """
      SELECT count(*) FROM adpilot.ad_requests WHERE dataset = $1 AND scored_at IS NULL
      """

    #expect(Tool.main(["score"], environment: ["DATABASE_URL": config.url]) == 1)
    #expect(try connection.query(queued, [.text("synthetic")])[0].int64(0) == 0)
    #expect(try connection.query(queued, [.text("a_broken")])[0].int64(0) == 1)
  }

  @Test func championOfOldLayoutScoresNothing() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    defer {
      for table in ["ad_scores WHERE dataset", "ad_requests WHERE dataset"] {
        _ = try? connection.execute("DELETE FROM adpilot.\(table) = 'relaid'")
      }
      for table in ["model_aliases", "models", "datasets"] {
        _ = try? connection.execute("DELETE FROM adpilot.\(table) WHERE name = 'relaid'")
      }
    }
    // The synthetic champion registered under a data set that an import then gave another
    // layout of the same lengths: its first field now has another name.
    try queueSyntheticCopy(connection, dataset: "relaid")
    let registry = ModelRegistry(connection: connection)
    let champion = try #require(try registry.champion(of: "synthetic"))
    let record = try registry.register(
      champion.model, name: "relaid", metrics: [:], hyperparameters: [:],
      validationLogLoss: 0.5, trainWindow: nil)
    try registry.setAlias("champion", of: "relaid", to: record.id, reason: "test")
    var spec = champion.model.spec
    let renamed = spec.categorical[0]
    spec.categorical[0].name = "relaid_field"
    let specJSON = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
    try connection.execute(
      "UPDATE adpilot.datasets SET feature_spec = $1::jsonb WHERE name = 'relaid'",
      [.text(specJSON)])
    let expected =
      "champion \(record.id) of 'relaid' was trained on another feature spec than the data set "
      + "has now: field 1 is categorical '\(renamed.name)' (\(renamed.buckets) buckets) in the "
      + "champion but categorical 'relaid_field' (\(renamed.buckets) buckets) in the data set; "
      + "train it again with `adpilot train --dataset relaid`, which replaces that champion, or "
      + "promote a model of the current layout with `adpilot models promote MODEL_ID --reason "
      + "TEXT`"

    try withScoringJob { job, _, _ in
      let error = #expect(throws: PipelineError.self) { try job.run(dataset: "relaid") }
      #expect(error?.message == expected)
    }
    let worker = ScoringWorker(connection: connection, logger: Logger(minimumLevel: .error))
    let error = #expect(throws: PipelineError.self) { try worker.drain(dataset: "relaid") }
    #expect(error?.message == expected)
    let queued = try connection.query(
      """
      SELECT count(*) FILTER (WHERE scored_at IS NULL AND rejected_reason IS NULL),
             (SELECT count(*) FROM adpilot.ad_scores WHERE dataset = 'relaid')
      FROM adpilot.ad_requests WHERE dataset = 'relaid'
      """)
    #expect(try queued[0].int64(0) == 1)
    #expect(try queued[0].int64(1) == 0)
  }

  @Test func queueingFeaturelessDatasetFails() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    // The market-price streams' spec: no feature at all.
    let spec = String(decoding: try JSONEncoder().encode(IPinYouStreamImporter.spec), as: UTF8.self)
    try connection.execute(
      """
      INSERT INTO adpilot.datasets (name, feature_spec, validation, source)
      VALUES ('no_features', $1::jsonb, 'time', 'test')
      ON CONFLICT DO NOTHING
      """, [.text(spec)])
    let job = ScoringJob(reader: connection, writer: connection, logger: Logger())
    do {
      _ = try job.queueRequests(fromImpressionsOf: "no_features", split: nil, limit: 10)
      Issue.record("requests of a data set without features were queued")
    } catch let error as PipelineError {
      #expect(error.message.hasPrefix("data set 'no_features' logs no features"))
    }
    try connection.execute("DELETE FROM adpilot.datasets WHERE name = 'no_features'")
  }

  @Test func workerStopsWhenAsked() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    var worker = ScoringWorker(connection: connection, logger: Logger(minimumLevel: .error))
    worker.pollInterval = 1
    // Another thread sets the stop flag half a second in, as the signal handler does.
    let stop = Mutex(false)
    DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) {
      stop.withLock { $0 = true }
    }
    let started = Date()
    _ = try worker.run(
      dataset: "synthetic", until: Date().addingTimeInterval(3_600),
      shouldStop: { stop.withLock { $0 } })
    // Without the stop the run would last until its one-hour deadline.
    #expect(Date().timeIntervalSince(started) < 30)
  }

  @Test func workerReconnectsWhenItsBackendIsTerminated() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let drainer = ScoringWorker(connection: connection, logger: Logger(minimumLevel: .error))
    _ = try drainer.drain(dataset: "synthetic")

    let backend = Mutex<Int64?>(nil)
    let stop = Mutex(false)
    let results = WorkerResults()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) {
      do {
        let own = try TestDatabase.connect(suite: Self.suite)
        defer { own.close() }
        let pid = try own.query("SELECT pg_backend_pid()")[0].int64(0)
        backend.withLock { $0 = pid }
        var worker = ScoringWorker(connection: own, logger: Logger(minimumLevel: .error))
        worker.pollInterval = 0.2
        let counts = try worker.run(
          dataset: "synthetic", until: Date().addingTimeInterval(120),
          shouldStop: { stop.withLock { $0 } })
        results.add(count: counts.scored)
      } catch {
        results.add(error: "\(error)")
      }
    }
    defer {
      stop.withLock { $0 = true }
      group.wait()
    }

    var pid: Int64?
    while pid == nil {
      usleep(10_000)
      pid = backend.withLock { $0 }
    }
    let terminated = try connection.query(
      "SELECT pg_terminate_backend($1::int, 10000)", [.int64(pid ?? 0)])
    #expect(try terminated[0].bool(0))

    // Work queued after the cut reaches only a worker that reconnected.
    try queueAgain(connection, count: 20)
    let pending = Self.pendingSynthetic
    let deadline = Date().addingTimeInterval(60)
    while try connection.query(pending)[0].int64(0) > 0 && Date() < deadline
      && results.errors.isEmpty
    {
      usleep(50_000)
    }
    stop.withLock { $0 = true }
    group.wait()
    #expect(results.errors.isEmpty, "\(results.errors)")
    #expect(results.total == 20)
    #expect(try connection.query(pending)[0].int64(0) == 0)
  }

  @Test func workerCountsBatchesBeforeALostConnection() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let drainer = ScoringWorker(connection: connection, logger: Logger(minimumLevel: .error))
    _ = try drainer.drain(dataset: "synthetic")
    try queueAgain(connection, count: 5)
    let pending = Self.pendingSynthetic

    let own = try TestDatabase.connect(suite: Self.suite)
    defer { own.close() }
    let pid = try own.query("SELECT pg_backend_pid()")[0].int64(0)
    var worker = ScoringWorker(connection: own, logger: Logger(minimumLevel: .error))
    worker.batchSize = 1
    worker.pollInterval = 0.2
    // The backend goes after the second committed batch, in the middle of a drain.
    var checks = 0
    let counts = try worker.run(dataset: "synthetic", until: Date().addingTimeInterval(60)) {
      checks += 1
      if checks == 2 {
        _ = try? connection.query("SELECT pg_terminate_backend($1::int, 10000)", [.int64(pid)])
      }
      return ((try? connection.query(pending)[0].int64(0)) ?? 1) == 0
    }
    #expect(checks > 2)
    #expect(try connection.query(pending)[0].int64(0) == 0)
    #expect(counts.scored == 5)
  }

  @Test func workerDeadlineEndsDrain() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let drainer = ScoringWorker(connection: connection, logger: Logger(minimumLevel: .error))
    _ = try drainer.drain(dataset: "synthetic")
    try queueAgain(connection, count: 6)
    defer { _ = try? drainer.drain(dataset: "synthetic") }

    // A deadline that has passed ends the run after its first batch, even with more queued.
    var worker = ScoringWorker(connection: connection, logger: Logger(minimumLevel: .error))
    worker.batchSize = 1
    let counts = try worker.run(dataset: "synthetic", until: Date())
    #expect(counts.scored == 1)
    #expect(try connection.query(Self.pendingSynthetic)[0].int64(0) == 5)
  }

  @Test func workerOnceEndsUnderSteadyFeed() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    defer { deleteQueued(connection, prefix: "feed") }
    let drainer = ScoringWorker(connection: connection, logger: Logger(minimumLevel: .error))
    _ = try drainer.drain(dataset: "synthetic")
    try queueCopies(connection, prefix: "feed", count: 3)

    // Every batch queues two new requests, more than the one it scores, so a drain of
    // everything queued would never end.
    var worker = ScoringWorker(connection: connection, logger: Logger(minimumLevel: .error))
    worker.batchSize = 1
    var batches = 0
    var feedErrors: [String] = []
    let counts = try worker.drain(dataset: "synthetic", queuedBeforeStart: true) {
      batches += 1
      do {
        try connection.execute(
          """
          INSERT INTO adpilot.ad_requests
              (request_id, ad_id, dataset, time, cat_values, num_values, seq_values)
          SELECT 'feed-late-' || $1 || '-' || n, ad_id, dataset, time, cat_values,
                 num_values, seq_values
          FROM adpilot.ad_requests, generate_series(1, 2) AS n
          WHERE request_id = 'feed-1'
          """, [.text("\(batches)")])
      } catch {
        feedErrors.append("\(error)")
      }
      return batches > 50
    }
    #expect(feedErrors.isEmpty, "\(feedErrors)")
    #expect(counts.scored == 3)
    #expect(batches < 10)
    let late = try connection.query(
      """
      SELECT count(*) FILTER (WHERE scored_at IS NULL), count(*)
      FROM adpilot.ad_requests WHERE request_id LIKE 'feed-late-%'
      """)[0]
    #expect(try late.int64(1) >= 6)
    #expect(try late.int64(0) == late.int64(1))
  }

  @Test func workerFollowsPromotionMidDrain() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let registry = ModelRegistry(connection: connection)
    let first = try #require(try registry.alias("champion", of: "synthetic"))
    let second = try #require(try registry.list(name: "synthetic").first { $0.id != first }?.id)
    defer {
      _ = try? registry.setAlias("champion", of: "synthetic", to: first, reason: "test restore")
    }
    let drainer = ScoringWorker(connection: connection, logger: Logger(minimumLevel: .error))
    _ = try drainer.drain(dataset: "synthetic")
    try connection.execute("DELETE FROM adpilot.ad_scores WHERE dataset = 'synthetic'")
    try queueAgain(connection, count: 6)

    // One request per batch; the other model becomes champion after the first batch commits,
    // while five requests are still queued.
    var worker = ScoringWorker(connection: connection, logger: Logger(minimumLevel: .error))
    worker.batchSize = 1
    var batches = 0
    let counts = try worker.drain(dataset: "synthetic") {
      batches += 1
      if batches == 1 {
        _ = try? registry.promote(id: second, reason: "roll back mid-drain")
      }
      return false
    }
    #expect(counts.scored == 6)
    #expect(try registry.alias("champion", of: "synthetic") == second)
    let byModel = try connection.query(
      """
      SELECT model_id, count(*) FROM adpilot.ad_scores
      WHERE dataset = 'synthetic' GROUP BY model_id
      """
    ).reduce(into: [String: Int64]()) { $0[try $1.string(0)] = try $1.int64(1) }
    #expect(byModel[first] == 1)
    #expect(byModel[second] == 5)
  }

  @Test func requeuingImpressionsReportsSkipped() throws {
    _ = try prepared()
    let config = try TestDatabase.config(suite: Self.suite)
    let connection = try Connection(config)
    defer { connection.close() }
    defer {
      _ = try? connection.execute(
        """
        DELETE FROM adpilot.ad_requests
        WHERE dataset = 'synthetic'
          AND request_id IN (SELECT request_id FROM adpilot.impressions
                             WHERE dataset = 'synthetic')
        """)
    }
    func queue(limit: Int) throws -> String {
      let context = Context(
        environment: ["DATABASE_URL": config.url], logger: Logger(minimumLevel: .error),
        echo: false)
      let parsed = try parseArguments(
        ["from-impressions", "--dataset", "synthetic", "--limit", "\(limit)"],
        options: requestsCommand.options, maxPositionals: requestsCommand.maxPositionals)
      try requestsCommand.run(parsed, context)
      return context.output
    }

    #expect(try queue(limit: 3) == "queued 3 requests of synthetic\n")
    // The first three impressions are queued already, so only two of five are added.
    #expect(
      try queue(limit: 5)
        == "queued 2 requests of synthetic; left out 3 of the first 5 impressions, whose request "
        + "and ad are already in adpilot.ad_requests (queued, scored or set aside); raise "
        + "--limit to queue later impressions\n")
  }

  @Test func queueingEmptySplitFails() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    // A data set with the synthetic layout and no impressions.
    try queueSyntheticCopy(connection, dataset: "no_rows")
    defer {
      _ = try? connection.execute("DELETE FROM adpilot.ad_requests WHERE dataset = 'no_rows'")
      _ = try? connection.execute("DELETE FROM adpilot.datasets WHERE name = 'no_rows'")
    }
    let job = ScoringJob(reader: connection, writer: connection, logger: Logger())
    let cases: [(String?, String)] = [
      (
        "test",
        "data set 'no_rows' has no impressions in split 'test'; leave out --split to queue every "
          + "split, or load that split with `adpilot import`"
      ),
      (
        nil,
        "data set 'no_rows' has no impressions at all; load them with `adpilot import` or "
          + "`adpilot generate`"
      ),
    ]
    for (split, message) in cases {
      let error = #expect(throws: PipelineError.self) {
        try job.queueRequests(fromImpressionsOf: "no_rows", split: split, limit: 10)
      }
      #expect(error?.message == message)
    }
  }

  @Test func queueingUnknownDatasetFails() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let job = ScoringJob(reader: connection, writer: connection, logger: Logger())
    #expect(throws: PipelineError.self) {
      _ = try job.queueRequests(fromImpressionsOf: "no_such_dataset", split: nil, limit: 10)
    }
  }

  @Test func twoWorkersScoreEachRequestOnce() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    try connection.execute(
      """
      DELETE FROM adpilot.ad_scores
      WHERE request_id IN (SELECT request_id FROM adpilot.ad_requests WHERE dataset = 'synthetic')
      """)
    try connection.execute(
      "UPDATE adpilot.ad_requests SET scored_at = NULL WHERE dataset = 'synthetic'")
    let pending = try connection.query(
      "SELECT count(*) FROM adpilot.ad_requests WHERE dataset = 'synthetic'")[0].int64(0)
    #expect(pending > 0)

    // Each worker has its own connection and claims small batches, so the two interleave.
    let results = WorkerResults()
    let group = DispatchGroup()
    for _ in 0..<2 {
      DispatchQueue.global().async(group: group) {
        do {
          let own = try TestDatabase.connect(suite: Self.suite)
          defer { own.close() }
          var worker = ScoringWorker(connection: own, logger: Logger(minimumLevel: .error))
          worker.batchSize = 16
          results.add(count: try worker.drain(dataset: "synthetic").scored)
        } catch {
          results.add(error: "\(error)")
        }
      }
    }
    group.wait()
    #expect(results.errors.isEmpty, "\(results.errors)")
    #expect(results.total == Int(pending))
    let scored = try connection.query(
      """
      SELECT count(*)
      FROM adpilot.ad_scores s
      JOIN adpilot.ad_requests r USING (dataset, request_id, ad_id)
      WHERE r.dataset = 'synthetic'
      """)
    #expect(try scored[0].int64(0) == pending)
  }

  @Test func malformedQueuedRequestsAreSetAside() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    defer { deleteQueued(connection, prefix: "aside") }
    let champion = try #require(try ModelRegistry(connection: connection).champion(of: "synthetic"))
    let spec = champion.model.spec
    let reasons = [
      "aside-bad":
        "feature arrays have 2 categorical, 0 numeric and 0 sequence values, but model "
        + "\(champion.record.id) expects \(spec.categorical.count) categorical, "
        + "\(spec.numeric.count) numeric and a multiple of \(spec.sequence.count) sequence "
        + "values; queue rows in the layout of its feature spec, or make a model of this layout "
        + "the champion with `adpilot models promote`",
      "aside-twod":
        "cat_values cannot be read (array has 2 dimensions, expected 1); store a "
        + "one-dimensional array, text[] for cat_values and seq_values and float8[] for "
        + "num_values",
    ]
    // Two well-formed requests copied from a queued one, one with two categorical values and
    // one with a two-dimensional array.
    try queueCopies(connection, prefix: "aside", count: 2)
    try connection.execute(
      """
      INSERT INTO adpilot.ad_requests (request_id, ad_id, dataset, time, cat_values)
      VALUES ('aside-bad', 'ad', 'synthetic', now(), ARRAY['a', 'b']),
             ('aside-twod', 'ad', 'synthetic', now(), '{{a,b},{c,d}}')
      """)
    let queued = """
      SELECT request_id, scored_at IS NOT NULL, rejected_reason,
             EXISTS (SELECT 1 FROM adpilot.ad_scores s
                     WHERE s.request_id = r.request_id AND s.ad_id = r.ad_id)
      FROM adpilot.ad_requests r WHERE request_id LIKE 'aside-%' ORDER BY request_id
      """
    func expectSetAside(_ path: String) throws {
      let rows = try connection.query(queued)
      #expect(rows.count == 4)
      for row in rows {
        let id = try row.string(0)
        #expect(try row.bool(1), "\(path): \(id) is still queued")
        #expect(try row.bool(3) == (reasons[id] == nil), "\(path): score of \(id)")
        #expect(try row.optionalString(2) == reasons[id], "\(path): \(id)")
      }
    }

    // A score left by an earlier queuing of aside-bad must go when the request is set aside.
    let staleScore = """
      INSERT INTO adpilot.ad_scores (dataset, request_id, ad_id, model_id, score)
      VALUES ('synthetic', 'aside-bad', 'ad', 'earlier-v1', 0.5)
      """
    try connection.execute(staleScore)

    // The worker scores the good requests and sets the bad ones aside, so the queue drains.
    let worker = ScoringWorker(connection: connection, logger: Logger(minimumLevel: .error))
    let counts = try worker.drain(dataset: "synthetic")
    #expect(counts.rejected == 2)
    #expect(counts.scored >= 2)
    try expectSetAside("worker")
    #expect(try worker.drain(dataset: "synthetic") == WorkerCounts())

    // The batch job does the same with the requests queued again.
    try connection.execute("DELETE FROM adpilot.ad_scores WHERE request_id LIKE 'aside-%'")
    try connection.execute(staleScore)
    try connection.execute(
      """
      UPDATE adpilot.ad_requests SET scored_at = NULL, rejected_reason = NULL
      WHERE request_id LIKE 'aside-%'
      """)
    try withScoringJob { job, _, _ in
      let report = try job.run(dataset: "synthetic")
      #expect(report.rejected == 2)
      #expect(report.firstRejection == reasons["aside-bad"])
      #expect(report.scored >= 2)
      try expectSetAside("job")
      let again = try job.run(dataset: "synthetic")
      #expect(again.rejected == 0)
      #expect(again.scored == 0)
    }

    // Fixed and queued again, a set-aside request is scored and loses its reason, by either
    // scorer.
    let fixAndRequeue = """
      UPDATE adpilot.ad_requests r
      SET cat_values = g.cat_values, num_values = g.num_values, seq_values = g.seq_values,
          scored_at = NULL
      FROM adpilot.ad_requests g
      WHERE r.request_id = 'aside-bad' AND g.request_id = 'aside-1' AND g.dataset = r.dataset
      """
    let reason = """
      SELECT rejected_reason IS NULL, scored_at IS NOT NULL,
             EXISTS (SELECT 1 FROM adpilot.ad_scores s
                     WHERE s.dataset = r.dataset AND s.request_id = r.request_id)
      FROM adpilot.ad_requests r WHERE r.request_id = 'aside-bad'
      """
    try connection.execute(fixAndRequeue)
    #expect(try worker.drain(dataset: "synthetic") == WorkerCounts(scored: 1, rejected: 0))
    #expect(
      try connection.query(reason).map { [try $0.bool(0), try $0.bool(1), try $0.bool(2)] } == [
        [true, true, true]
      ])
    try connection.execute(
      "UPDATE adpilot.ad_requests SET rejected_reason = 'earlier' WHERE request_id = 'aside-bad'")
    try connection.execute(fixAndRequeue)
    try withScoringJob { job, _, _ in
      let report = try job.run(dataset: "synthetic")
      #expect(report.scored == 1)
    }
    #expect(
      try connection.query(reason).map { [try $0.bool(0), try $0.bool(1), try $0.bool(2)] } == [
        [true, true, true]
      ])
  }

  @Test func batchJobKeepsChangedRequestsQueued() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    defer { deleteQueued(connection, prefix: "changed") }
    try queueCopies(connection, prefix: "changed", count: 3)
    try connection.execute(
      "UPDATE adpilot.ad_requests SET cat_values = ARRAY['a', 'b'] WHERE request_id = 'changed-3'")

    try withScoringJob { job, _, _ in
      // After the read, changed-1 gets other features and the unfit changed-3 the fitting ones
      // of changed-2, as `adpilot generate` replacing the queue or a fix of a request would.
      var job = job
      job.afterRowsRead = {
        try connection.execute(
          """
          UPDATE adpilot.ad_requests
          SET cat_values = array_fill('other'::text, ARRAY[cardinality(cat_values)])
          WHERE request_id = 'changed-1'
          """)
        try connection.execute(
          """
          UPDATE adpilot.ad_requests r SET cat_values = g.cat_values
          FROM adpilot.ad_requests g
          WHERE r.request_id = 'changed-3' AND g.request_id = 'changed-2'
            AND g.dataset = r.dataset
          """)
      }
      let report = try job.run(dataset: "synthetic")
      #expect(report.rejected == 0)
    }
    let rows = try connection.query(
      """
      SELECT r.request_id, r.scored_at IS NULL, r.rejected_reason IS NULL,
             s.request_id IS NOT NULL
      FROM adpilot.ad_requests r
      LEFT JOIN adpilot.ad_scores s USING (dataset, request_id, ad_id)
      WHERE r.request_id LIKE 'changed-%' ORDER BY r.request_id
      """)
    let states = try rows.map { row in
      [try row.string(0), "\(try row.bool(1))", "\(try row.bool(2))", "\(try row.bool(3))"]
    }
    // Columns: request, still queued, no rejected reason, has a score.
    #expect(states[0] == ["changed-1", "true", "true", "false"])
    #expect(states[1] == ["changed-2", "false", "true", "true"])
    #expect(states[2] == ["changed-3", "true", "true", "false"])
  }

  @Test func requestIdsAreScopedByDataset() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    defer { deleteQueued(connection, prefix: "twin") }
    // The same request and ad id in two data sets, and a score of the other data set's one.
    try queueCopies(connection, prefix: "twin", count: 1)
    try connection.execute(
      """
      INSERT INTO adpilot.ad_requests (request_id, ad_id, dataset, time)
      VALUES ('twin-1', 'ad', 'twin_other', now())
      """)
    try connection.execute(
      """
      INSERT INTO adpilot.ad_scores (dataset, request_id, ad_id, model_id, score)
      VALUES ('twin_other', 'twin-1', 'ad', 'elsewhere-v1', 0.5)
      """)
    let scores = """
      SELECT dataset, model_id, score::float8 FROM adpilot.ad_scores
      WHERE request_id = 'twin-1' ORDER BY dataset
      """
    let champion = try #require(
      try ModelRegistry(connection: connection).alias(
        "champion", of: "synthetic"))
    func expectBothScores(_ path: String) throws {
      let rows = try connection.query(scores)
      #expect(try rows.map { try $0.string(0) } == ["synthetic", "twin_other"], "\(path)")
      #expect(try rows.map { try $0.string(1) } == [champion, "elsewhere-v1"], "\(path)")
      #expect(try rows.last?.double(2) == 0.5, "\(path)")
      #expect(try rows.first?.double(2) != 0.25, "\(path): the stale score was kept")
    }

    let worker = ScoringWorker(connection: connection, logger: Logger(minimumLevel: .error))
    #expect(try worker.drain(dataset: "synthetic").scored >= 1)
    try expectBothScores("worker")

    // Queued again with the old score in place: the new score replaces it.
    try connection.execute(
      """
      UPDATE adpilot.ad_scores SET score = 0.25
      WHERE request_id = 'twin-1' AND dataset = 'synthetic'
      """)
    try connection.execute(
      "UPDATE adpilot.ad_requests SET scored_at = NULL WHERE request_id = 'twin-1'")
    try withScoringJob { job, _, _ in
      let report = try job.run(dataset: "synthetic")
      #expect(report.scored >= 1)
    }
    try expectBothScores("job")
  }

  @Test func batchJobLeavesHeldUnfitRequestsToTheirHolder() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    defer { deleteQueued(connection, prefix: "heldbad") }
    try connection.execute(
      """
      INSERT INTO adpilot.ad_requests (request_id, ad_id, dataset, time, cat_values)
      VALUES ('heldbad-1', 'ad', 'synthetic', now(), ARRAY['a', 'b']),
             ('heldbad-2', 'ad', 'synthetic', now(), ARRAY['a', 'b'])
      """)
    let worker = try TestDatabase.connect(suite: Self.suite)
    defer { worker.close() }
    try worker.execute("BEGIN")
    try worker.execute(
      "SELECT 1 FROM adpilot.ad_requests WHERE request_id = 'heldbad-1' FOR UPDATE")
    let marks = """
      SELECT rejected_reason IS NOT NULL FROM adpilot.ad_requests
      WHERE request_id LIKE 'heldbad-%' ORDER BY request_id
      """
    try withScoringJob { job, _, writer in
      // Waiting on the held request would hit the timeout.
      try writer.execute("SET statement_timeout = '5s'")
      #expect(try job.run(dataset: "synthetic").rejected == 1)
      #expect(try connection.query(marks).map { try $0.bool(0) } == [false, true])

      try worker.execute("ROLLBACK")
      #expect(try job.run(dataset: "synthetic").rejected == 1)
      #expect(try connection.query(marks).map { try $0.bool(0) } == [true, true])
    }
  }

  @Test func batchJobSkipsRequestsAWorkerHolds() throws {
    _ = try prepared()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    defer { deleteQueued(connection, prefix: "held") }
    try queueCopies(connection, prefix: "held", count: 2)
    // An open lock on held-1, like the one `adpilot worker` keeps on a claim while it scores.
    let worker = try TestDatabase.connect(suite: Self.suite)
    defer { worker.close() }
    try worker.execute("BEGIN")
    try worker.execute(
      "SELECT 1 FROM adpilot.ad_requests WHERE request_id = 'held-1' FOR UPDATE")
    let marks = """
      SELECT request_id, scored_at IS NOT NULL,
             EXISTS (SELECT 1 FROM adpilot.ad_scores s
                     WHERE s.dataset = r.dataset AND s.request_id = r.request_id)
      FROM adpilot.ad_requests r WHERE request_id LIKE 'held-%' ORDER BY request_id
      """
    try withScoringJob { job, _, writer in
      // Waiting on the claim would hit the timeout, and waiting both ways was a deadlock.
      try writer.execute("SET statement_timeout = '5s'")
      _ = try job.run(dataset: "synthetic")
      let rows = try connection.query(marks)
      #expect(try rows.map { try $0.bool(1) } == [false, true])
      #expect(try rows.map { try $0.bool(2) } == [false, true])

      try worker.execute("ROLLBACK")
      let report = try job.run(dataset: "synthetic")
      #expect(report.scored == 1)
      let after = try connection.query(marks)
      #expect(try after.map { try $0.bool(1) } == [true, true])
      #expect(try after.map { try $0.bool(2) } == [true, true])
    }
  }

  @Test func queuedRequestsNotifyWorkers() throws {
    _ = try prepared()
    let listener = try TestDatabase.connect(suite: Self.suite)
    defer { listener.close() }
    let writer = try TestDatabase.connect(suite: Self.suite)
    defer { writer.close() }
    try listener.listen("adpilot_requests")
    try writer.execute(
      """
      INSERT INTO adpilot.ad_requests (request_id, ad_id, dataset, time)
      VALUES ('notify-1', 'ad', 'synthetic', now())
      ON CONFLICT DO NOTHING
      """)
    let notification = try listener.waitForNotification(timeout: 5)
    #expect(notification?.channel == "adpilot_requests")
    #expect(notification?.payload == "synthetic")
    try writer.execute("DELETE FROM adpilot.ad_requests WHERE request_id = 'notify-1'")
  }
}

/// Counts and errors collected from worker threads.
final class WorkerResults: @unchecked Sendable {
  private let lock = NSLock()
  private(set) var total = 0
  private(set) var errors: [String] = []

  func add(count: Int) {
    lock.lock()
    total += count
    lock.unlock()
  }

  func add(error: String) {
    lock.lock()
    errors.append(error)
    lock.unlock()
  }
}

@Test func statementBodyDropsTrailingSemicolonsAndComments() {
  let cases: [(query: String, body: String)] = [
    ("SELECT 1", "SELECT 1"),
    ("SELECT 1 ;\n ; ", "SELECT 1"),
    ("SELECT 1; -- one", "SELECT 1"),
    ("SELECT 1; -- one\n-- two;\n", "SELECT 1"),
    // A carriage return ends a comment too, so what follows it is still the query.
    ("SELECT 1 -- one\rLIMIT 3;", "SELECT 1 -- one\rLIMIT 3"),
    ("SELECT 1; -- one\r-- two\r", "SELECT 1"),
    ("SELECT 1 -- one", "SELECT 1"),
    ("SELECT ';' AS x", "SELECT ';' AS x"),
    ("SELECT 1; SELECT 2", "SELECT 1; SELECT 2"),
    // Semicolons and comment markers inside literals, identifiers and comments stay.
    ("SELECT 'a; -- b'", "SELECT 'a; -- b'"),
    ("SELECT 'it''s; -- x' ;", "SELECT 'it''s; -- x'"),
    (#"SELECT E'it\'s; -- x' ;"#, #"SELECT E'it\'s; -- x'"#),
    (#"SELECT 'a\'; -- b'"#, #"SELECT 'a\'"#),
    ("SELECT $q$a; -- b$q$ ; -- c", "SELECT $q$a; -- b$q$"),
    ("SELECT $$x;$$;", "SELECT $$x;$$"),
    ("SELECT 1 AS \"x;--\"; /* c */", "SELECT 1 AS \"x;--\""),
    ("SELECT 1; /* a /* b; */ c */ ;\n", "SELECT 1"),
    ("SELECT $1;", "SELECT $1"),
    ("SELECT a$b FROM t;", "SELECT a$b FROM t"),
    ("SELECT 'é'; -- ü", "SELECT 'é'"),
    // An unterminated literal or comment keeps the rest, for PostgreSQL to report.
    ("SELECT 'a; -- b", "SELECT 'a; -- b"),
    ("SELECT 1 /* x;", "SELECT 1 /* x;"),
    ("  ;  -- nothing", ""),
  ]
  for (query, body) in cases {
    #expect(ScoringJob.statementBody(query) == body, "\(query.debugDescription)")
  }
}
