// The adpilot PostgreSQL extension on the test cluster: SQL scores equal the batch scorer's bit
// for bit, malformed calls raise errors without crashing the backend, and scoring can be
// cancelled. Runs only with ADPILOT_TEST_EXTENSION=1 after `make install-extension`.

import CTR
import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing

@testable import AdPilot

@Suite(
  .serialized,
  .enabled(
    if: ProcessInfo.processInfo.environment["ADPILOT_TEST_EXTENSION"] == "1",
    "needs ADPILOT_TEST_EXTENSION=1 and the installed extension: run `make test-extension`"))
struct ExtensionTests {
  static let suite = "extension"
  /// Request-ad pairs compared between SQL and the batch scorer.
  static let pairs = 10_000

  /// Generates data, trains a champion, scores every request with ScoringJob and creates the
  /// extension, once per suite.
  static let prepared: Result<String, any Error> = Result {
    let connection = try TestDatabase.connect(suite: suite)
    defer { connection.close() }
    let logger = Logger(minimumLevel: .warning)
    let config = SyntheticConfig(
      users: 600, ads: 60, days: 3, impressionsPerDay: 3_000, maxSequenceLength: 8,
      seed: 11, requests: pairs / 4, candidatesPerRequest: 4)
    try SyntheticGenerator(config).generate(into: connection)

    var options = TrainOptions(dataset: "synthetic")
    options.maxEpochs = 1
    options.batchSize = 256
    let train = try TrainingPipeline(connection: connection, logger: logger).run(options)

    let writer = try TestDatabase.connect(suite: suite)
    defer { writer.close() }
    _ = try ScoringJob(reader: connection, writer: writer, logger: logger).run(
      dataset: "synthetic")
    _ = try connection.execute("CREATE EXTENSION IF NOT EXISTS adpilot")
    try checkInstalledLibrary(connection)
    guard let champion = train.champion else {
      throw PipelineError("training left synthetic without a champion: \(train.championReason)")
    }
    return champion.id
  }

  /// Throws unless the server's adpilot.so has the bytes of this checkout's build.
  ///
  /// `make install-extension` copies the library into the server's shared directory, so
  /// another checkout on the same machine replaces it with its own build, and the tests would
  /// then check that build.
  static func checkInstalledLibrary(_ connection: Connection) throws {
    let directory = try connection.query(
      "SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")[0].string(0)
    let installed = URL(fileURLWithPath: directory).appendingPathComponent("adpilot.so")
    let built = TestData.packageRoot.appendingPathComponent("extension/adpilot.so")
    guard let installedBytes = FileManager.default.contents(atPath: installed.path),
      let builtBytes = FileManager.default.contents(atPath: built.path),
      installedBytes == builtBytes
    else {
      throw PipelineError(
        "the server's \(installed.path) is missing or differs from this checkout's build "
          + "\(built.path); another checkout's `make install-extension` may have replaced it. "
          + "Run `make install-extension`, then the tests again")
    }
  }

  /// Opens a connection after checking that the installed library is still this checkout's,
  /// because each new backend loads the file that is installed at that moment.
  func connect() throws -> Connection {
    _ = try Self.prepared.get()
    let connection = try TestDatabase.connect(suite: Self.suite)
    do {
      try Self.checkInstalledLibrary(connection)
    } catch {
      connection.close()
      throw error
    }
    return connection
  }

  /// Runs `sql` and checks that it fails with `sqlState`.
  func expectError(
    _ connection: Connection, _ sql: String, _ sqlState: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    do {
      _ = try connection.query(sql)
      Issue.record("no error from: \(sql)", sourceLocation: sourceLocation)
    } catch {
      #expect(error.sqlState == sqlState, "\(sql): \(error)", sourceLocation: sourceLocation)
    }
  }

  @Test func scoreEqualsBatchScorerBitForBit() throws {
    let connection = try connect()
    defer { connection.close() }
    let started = Date()
    let rows = try connection.query(
      """
      SELECT count(*),
             count(*) FILTER (
                 WHERE float4send(s.score) = float4send(
                     adpilot.score(r.dataset, r.cat_values, r.num_values, r.seq_values)))
      FROM adpilot.ad_requests r
      JOIN adpilot.ad_scores s USING (dataset, request_id, ad_id)
      WHERE r.dataset = 'synthetic'
      """)
    let seconds = Date().timeIntervalSince(started)
    print("adpilot.score: \(Self.pairs) pairs in \(String(format: "%.3f", seconds)) s")
    #expect(try rows[0].int64(0) == Int64(Self.pairs))
    #expect(try rows[0].int64(1) == Int64(Self.pairs))
  }

  @Test func scoreCandidatesEqualsBatchScorer() throws {
    let connection = try connect()
    defer { connection.close() }
    let rows = try connection.query(
      """
      WITH requests AS (
          SELECT request_id,
                 array_agg(ad_id ORDER BY ad_id) AS ad_ids,
                 array_agg(cat_values ORDER BY ad_id) AS cat_values,
                 coalesce(
                     array_agg(num_values ORDER BY ad_id)
                         FILTER (WHERE cardinality(num_values) > 0),
                     '{}') AS num_values,
                 min(seq_values) AS seq_values,
                 max(seq_values) AS last_seq_values
          FROM adpilot.ad_requests
          WHERE dataset = 'synthetic'
          GROUP BY request_id
      )
      SELECT count(*), count(*) FILTER (WHERE float4send(c.score) = float4send(s.score))
      FROM requests q
      CROSS JOIN LATERAL adpilot.score_candidates(
          'synthetic', q.ad_ids, q.cat_values, q.num_values, q.seq_values) c
      JOIN adpilot.ad_scores s
        ON s.dataset = 'synthetic' AND s.request_id = q.request_id AND s.ad_id = c.ad_id
      WHERE q.seq_values = q.last_seq_values
      """)
    #expect(try rows[0].int64(0) == Int64(Self.pairs))
    #expect(try rows[0].int64(1) == Int64(Self.pairs))
  }

  @Test func sharedSequenceEqualsPerCandidate() throws {
    let connection = try connect()
    defer { connection.close() }
    let rows = try connection.query(
      """
      WITH one AS (
          SELECT request_id, ad_id, cat_values, num_values, seq_values
          FROM adpilot.ad_requests
          WHERE dataset = 'synthetic'
          ORDER BY request_id, ad_id
          LIMIT 1
      )
      SELECT float4send(c.score) = float4send(
                 adpilot.score('synthetic', o.cat_values, o.num_values, o.seq_values))
      FROM one o
      CROSS JOIN LATERAL adpilot.score_candidates(
          'synthetic', ARRAY[o.ad_id], ARRAY[o.cat_values], ARRAY[o.num_values],
          o.seq_values) c
      """)
    #expect(rows.count == 1)
    #expect(try rows[0].bool(0))
  }

  @Test func parallelWorkersScoreTheSame() throws {
    let connection = try connect()
    defer { connection.close() }
    _ = try connection.execute("SET force_parallel_mode = on")
    let rows = try connection.query(
      """
      SELECT count(*)
      FROM adpilot.ad_requests r
      JOIN adpilot.ad_scores s USING (dataset, request_id, ad_id)
      WHERE float4send(s.score) <> float4send(
          adpilot.score(r.dataset, r.cat_values, r.num_values, r.seq_values))
      """)
    #expect(try rows[0].int64(0) == 0)
  }

  @Test func malformedCallsRaiseErrors() throws {
    let connection = try connect()
    defer { connection.close() }
    let pid = try connection.query("SELECT pg_backend_pid()")[0].int64(0)
    let postmasterStart = try connection.query("SELECT pg_postmaster_start_time()::text")[0]
      .string(0)
    let good = try connection.query(
      """
      SELECT cat_values::text, num_values::text, seq_values::text
      FROM adpilot.ad_requests
      WHERE dataset = 'synthetic'
      LIMIT 1
      """)[0]
    let cat = "'\(try good.string(0))'::text[]"
    let num = "'\(try good.string(1))'::float8[]"
    let seq = "'\(try good.string(2))'::text[]"

    let cases: [(String, String)] = [
      ("SELECT adpilot.score(NULL, \(cat), \(num), \(seq))", "22004"),
      ("SELECT adpilot.score('synthetic', NULL, \(num), \(seq))", "22004"),
      ("SELECT adpilot.score('synthetic', \(cat), NULL, \(seq))", "22004"),
      ("SELECT adpilot.score('synthetic', \(cat), \(num), NULL)", "22004"),
      ("SELECT adpilot.score('synthetic', \(cat) || 'extra'::text, \(num), \(seq))", "22023"),
      ("SELECT adpilot.score('synthetic', (\(cat))[2:], \(num), \(seq))", "22023"),
      ("SELECT adpilot.score('synthetic', '{}', \(num), \(seq))", "22023"),
      ("SELECT adpilot.score('synthetic', ARRAY[\(cat)], \(num), \(seq))", "22023"),
      ("SELECT adpilot.score('synthetic', \(cat), \(num) || 1.0::float8, \(seq))", "22023"),
      ("SELECT adpilot.score('synthetic', \(cat), \(num), \(seq) || 'x'::text)", "22023"),
      ("SELECT adpilot.score('synthetic', \(cat), \(num), ARRAY[\(seq)])", "22023"),
      ("SELECT adpilot.score('no_such_dataset', \(cat), \(num), \(seq))", "42704"),
      (
        "SELECT * FROM adpilot.score_candidates('no_such_dataset', '{}', '{}', '{}', '{}')",
        "42704"
      ),
      (
        "SELECT * FROM adpilot.score_candidates('synthetic', ARRAY['a', NULL], "
          + "ARRAY[\(cat), \(cat)], ARRAY[\(num), \(num)], \(seq))", "22004"
      ),
      (
        "SELECT * FROM adpilot.score_candidates('synthetic', ARRAY['a', 'b'], "
          + "ARRAY[\(cat)], ARRAY[\(num), \(num)], \(seq))", "22023"
      ),
      (
        "SELECT * FROM adpilot.score_candidates('synthetic', ARRAY['a', 'b'], "
          + "\(cat), ARRAY[\(num), \(num)], \(seq))", "22023"
      ),
      (
        "SELECT * FROM adpilot.score_candidates('synthetic', ARRAY['a'], "
          + "ARRAY[\(cat)], ARRAY[\(num)], ARRAY[\(seq), \(seq)])", "22023"
      ),
      (
        "SELECT * FROM adpilot.score_candidates('synthetic', NULL, "
          + "ARRAY[\(cat)], ARRAY[\(num)], \(seq))", "22004"
      ),
    ]
    for (sql, sqlState) in cases {
      expectError(connection, sql, sqlState)
    }
    do {
      _ = try connection.query(
        "SELECT * FROM adpilot.score_candidates('synthetic', ARRAY['a'], "
          + "ARRAY[\(cat)], ARRAY[\(num)], ARRAY[\(seq), \(seq)])")
      Issue.record("two history rows for one candidate did not fail")
    } catch {
      #expect(error.message == "seq_values has 2 rows, not one per candidate (1)")
    }
    do {
      _ = try connection.query(
        "SELECT * FROM adpilot.score_candidates('synthetic', NULL, ARRAY[\(cat)], "
          + "ARRAY[\(num)], \(seq))")
      Issue.record("NULL ad_ids did not fail")
    } catch {
      #expect(error.message == "ad_ids must not be null")
      #expect(error.hint == "Pass one ad id per candidate.")
    }
    // An array of the wrong shape is named in the message, and the hint gives the shape to pass.
    let shapes = [
      (
        "SELECT adpilot.score('synthetic', \(cat), \(num), ARRAY[\(seq)])",
        "seq_values must have one dimension, got 2",
        "Pass the request's behaviour values as one flat list, item by item; "
          + "adpilot.score_candidates takes one list per candidate."
      ),
      (
        "SELECT * FROM adpilot.score_candidates('synthetic', ARRAY[ARRAY['a']], "
          + "ARRAY[\(cat)], ARRAY[\(num)], \(seq))",
        "ad_ids must have one dimension, got 2",
        "Pass the candidate ads as a flat text[], such as ARRAY['ad-1', 'ad-2']."
      ),
      (
        "SELECT * FROM adpilot.score_candidates('synthetic', ARRAY['a'], "
          + "ARRAY[\(cat)], ARRAY[\(num)], ARRAY[ARRAY[\(seq)]])",
        "seq_values has the wrong shape",
        "Pass one behaviour list shared by all candidates, or a two-dimensional array with "
          + "one list per candidate."
      ),
    ]
    for (sql, message, hint) in shapes {
      do {
        _ = try connection.query(sql)
        Issue.record("no error from: \(sql)")
      } catch {
        #expect(error.sqlState == "22023", "\(sql)")
        #expect(error.message == message, "\(sql)")
        #expect(error.hint == hint, "\(sql)")
      }
    }
    // With no candidates the other arrays must be empty too.
    let fields = try connection.query("SELECT cardinality(\(cat))")[0].int64(0)
    do {
      _ = try connection.query(
        "SELECT * FROM adpilot.score_candidates('synthetic', '{}', ARRAY[\(cat)], '{}', '{}')")
      Issue.record("feature rows without candidates did not fail")
    } catch {
      #expect(error.sqlState == "22023")
      #expect(error.message == "cat_values has \(fields) elements, but ad_ids is empty")
    }
    #expect(
      try connection.query(
        "SELECT count(*) FROM adpilot.score_candidates('synthetic', '{}', '{}', '{}', '{}')"
      )[0].int64(0) == 0)
    // A request's shared behaviour list is still whole items when no candidate is left.
    #expect(
      try connection.query(
        "SELECT count(*) FROM adpilot.score_candidates('synthetic', '{}', '{}', '{}', \(seq))"
      )[0].int64(0) == 0)
    do {
      _ = try connection.query(
        "SELECT * FROM adpilot.score_candidates('synthetic', '{}', '{}', '{}', "
          + "\(seq) || 'x'::text)")
      Issue.record("a partial behaviour item without candidates did not fail")
    } catch {
      #expect(error.sqlState == "22023")
      #expect(error.detail?.hasSuffix("values in the list.") == true)
    }
    do {
      _ = try connection.query("SELECT adpilot.score('untrained_name', '{}', '{}', '{}')")
      Issue.record("a data set without a champion did not fail")
    } catch {
      #expect(error.sqlState == "42704")
      #expect(
        error.hint == "Check the name against \"adpilot summary\". A data set that logs features "
          + "gets a champion from \"adpilot train --dataset untrained_name\"; a data set without "
          + "features cannot be scored.")
    }
    // A long unknown name is quoted up to 100 bytes, cut before a whole character.
    do {
      _ = try connection.query(
        "SELECT adpilot.score(repeat('é', 100000), \(cat), \(num), \(seq))")
      Issue.record("an unknown long data set name did not fail")
    } catch {
      #expect(error.sqlState == "42704")
      #expect(
        error.message == "data set \"" + String(repeating: "é", count: 50)
          + "...\" (200000 bytes) has no champion model")
    }

    #expect(try connection.query("SELECT pg_backend_pid()")[0].int64(0) == pid)
    #expect(
      try connection.query("SELECT pg_postmaster_start_time()::text")[0].string(0)
        == postmasterStart)
    let fresh = try TestDatabase.connect(suite: Self.suite)
    defer { fresh.close() }
    #expect(try fresh.query("SELECT 1")[0].int64(0) == 1)
  }

  @Test func badRegistryEntriesRaiseErrors() throws {
    let connection = try connect()
    defer { connection.close() }
    let pid = try connection.query("SELECT pg_backend_pid()")[0].int64(0)
    let championId = try Self.prepared.get()
    let weights = try connection.query(
      "SELECT weights FROM adpilot.models WHERE id = $1", [.text(championId)])[0].bytes(0)
    let otherSpec = FeatureSpec(
      categorical: [CategoricalField(name: "only", role: .context, buckets: 5)],
      embeddingDimension: 2)
    let otherModel = try LogisticModel(spec: otherSpec, config: TrainingConfig(), seed: 1)
    let entries: [(String, [UInt8])] = [
      ("bad_garbage", [0xDE, 0xAD, 0xBE, 0xEF]),
      ("bad_truncated", Array(weights.dropLast(100))),
      ("bad_flipped", weights.enumerated().map { $0 == weights.count / 2 ? ~$1 : $1 }),
      ("bad_other_spec", otherModel.serialized()),
    ]
    for (name, bytes) in entries {
      _ = try connection.execute(
        """
        INSERT INTO adpilot.models (id, name, version, kind, weights, checksum, feature_spec)
        VALUES ($1, $1, 1, 'logistic', $2, 'none', '{}')
        ON CONFLICT (id) DO UPDATE SET weights = excluded.weights
        """, [.text(name), .bytea(bytes)])
      _ = try connection.execute(
        """
        INSERT INTO adpilot.model_aliases (name, alias, model_id)
        VALUES ($1, 'champion', $1)
        ON CONFLICT (name, alias) DO UPDATE SET model_id = excluded.model_id
        """, [.text(name)])
    }
    _ = try connection.execute(
      """
      INSERT INTO adpilot.model_aliases (name, alias, model_id)
      VALUES ('bad_missing', 'champion', 'no-such-model')
      ON CONFLICT (name, alias) DO UPDATE SET model_id = excluded.model_id
      """)
    _ = try connection.execute(
      """
      INSERT INTO adpilot.model_aliases (name, alias, model_id)
      VALUES ('bad_no_champion', 'previous', $1)
      ON CONFLICT (name, alias) DO UPDATE SET model_id = excluded.model_id
      """, [.text(championId)])

    let call = { (dataset: String) in
      """
      SELECT adpilot.score('\(dataset)', cat_values, num_values, seq_values)
      FROM adpilot.ad_requests
      WHERE dataset = 'synthetic'
      LIMIT 3
      """
    }
    expectError(connection, call("bad_garbage"), "XX001")
    expectError(connection, call("bad_truncated"), "XX001")
    expectError(connection, call("bad_flipped"), "XX001")
    expectError(connection, call("bad_other_spec"), "22023")
    expectError(connection, call("bad_missing"), "42704")
    expectError(connection, call("bad_no_champion"), "42704")

    #expect(try connection.query("SELECT pg_backend_pid()")[0].int64(0) == pid)
    #expect(try connection.query(call("synthetic")).count == 3)
  }

  @Test func championOfOldLayoutRaisesError() throws {
    let connection = try connect()
    defer { connection.close() }
    let pid = try connection.query("SELECT pg_backend_pid()")[0].int64(0)
    let championId = try Self.prepared.get()
    defer {
      for table in ["model_aliases", "models", "datasets"] {
        _ = try? connection.execute("DELETE FROM adpilot.\(table) WHERE name = 'relaid'")
      }
    }
    // The champion registered under a data set whose layout an import then changed: its first
    // field has another name, and every array keeps its length.
    try connection.execute(
      """
      INSERT INTO adpilot.models (id, name, version, kind, weights, checksum, feature_spec)
      SELECT 'relaid-v1', 'relaid', 1, kind, weights, checksum, feature_spec
      FROM adpilot.models WHERE id = $1
      """, [.text(championId)])
    try connection.execute(
      "INSERT INTO adpilot.model_aliases (name, alias, model_id) VALUES ('relaid', 'champion', "
        + "'relaid-v1')")
    try connection.execute(
      """
      INSERT INTO adpilot.datasets (name, feature_spec, validation, source)
      SELECT 'relaid', jsonb_set(feature_spec, '{categorical,0,name}', '"relaid_field"'),
             validation, source
      FROM adpilot.datasets WHERE name = 'synthetic'
      """)
    let single = """
      SELECT adpilot.score('relaid', cat_values, num_values, seq_values)
      FROM adpilot.ad_requests WHERE dataset = 'synthetic' LIMIT 3
      """
    let candidates = """
      SELECT c.score
      FROM adpilot.ad_requests r
      CROSS JOIN LATERAL adpilot.score_candidates(
          'relaid', ARRAY[r.ad_id], ARRAY[r.cat_values], '{}', r.seq_values) c
      WHERE r.dataset = 'synthetic' LIMIT 3
      """
    expectError(connection, single, "55000")
    expectError(connection, candidates, "55000")

    // Once the data set's layout matches the champion's again, the same calls score.
    try connection.execute(
      """
      UPDATE adpilot.datasets d SET feature_spec = s.feature_spec
      FROM adpilot.datasets s WHERE d.name = 'relaid' AND s.name = 'synthetic'
      """)
    #expect(try connection.query(single).count == 3)
    #expect(try connection.query(candidates).count == 3)
    #expect(try connection.query("SELECT pg_backend_pid()")[0].int64(0) == pid)
  }

  @Test func championMoveLoadsNewModel() throws {
    let connection = try connect()
    defer { connection.close() }
    let championId = try Self.prepared.get()
    let before = try connection.query(Self.firstScore)[0].bytes(0)

    let expected = try promoteReplacement(
      connection, id: "synthetic-moved", version: 999, championId: championId)
    defer { restoreChampion(connection, championId, removing: "synthetic-moved") }

    let after = try connection.query(Self.firstScore)[0].bytes(0)
    #expect(after != before)
    #expect(after == expected)
  }

  @Test func weightsUpdatedInPlaceLoadAgain() throws {
    let connection = try connect()
    defer { connection.close() }
    let championId = try Self.prepared.get()
    let championScore = try connection.query(Self.firstScore)[0].bytes(0)

    let replacementScore = try promoteReplacement(
      connection, id: "synthetic-in-place", version: 998, championId: championId)
    defer { restoreChampion(connection, championId, removing: "synthetic-in-place") }
    #expect(try connection.query(Self.firstScore)[0].bytes(0) == replacementScore)

    // The same id now stores the champion's weights, and this backend has the replacement
    // loaded under that id.
    _ = try connection.execute(
      """
      UPDATE adpilot.models
      SET weights = (SELECT weights FROM adpilot.models WHERE id = $1)
      WHERE id = 'synthetic-in-place'
      """, [.text(championId)])
    #expect(championScore != replacementScore)
    #expect(try connection.query(Self.firstScore)[0].bytes(0) == championScore)
  }

  @Test func diceModelScoresLikePredict() throws {
    let connection = try connect()
    defer { connection.close() }
    var options = TrainOptions(dataset: "synthetic")
    options.modelName = "synthetic-dice"
    options.maxEpochs = 1
    options.batchSize = 256
    options.mlpActivation = .dice
    let train = try TrainingPipeline(
      connection: connection, logger: Logger(minimumLevel: .warning)
    ).run(options)
    // The alias may have gone to the logistic baseline; the attention model is the one to check.
    _ = try connection.execute(
      "UPDATE adpilot.model_aliases SET model_id = $1 "
        + "WHERE name = 'synthetic-dice' AND alias = 'champion'",
      [.text(train.attention.record.id)])
    let model = try loadModel(
      try connection.query(
        "SELECT weights FROM adpilot.models WHERE id = $1", [.text(train.attention.record.id)])[
          0
        ].bytes(0))

    let rows = try connection.query(
      """
      SELECT cat_values::text, num_values::text, seq_values::text,
             float4send(adpilot.score('synthetic-dice', cat_values, num_values, seq_values))
      FROM adpilot.ad_requests
      WHERE dataset = 'synthetic'
      ORDER BY request_id, ad_id
      LIMIT 200
      """)
    var batch = EncodedBatch(spec: model.spec, capacity: rows.count)
    let encoder = FeatureEncoder(spec: model.spec)
    for row in rows {
      encoder.append(
        cat: try Self.parseTextArray(try row.string(0)),
        num: try Self.parseTextArray(try row.string(1)).map { $0.flatMap(Double.init) },
        seq: try Self.parseTextArray(try row.string(2)), label: 0, to: &batch)
    }
    let expected = model.predict(batch)
    let scored = try rows.map { try $0.bytes(3) }
    let bits = try expected.map {
      try connection.query("SELECT float4send($1::real)", [.float4($0)])[0].bytes(0)
    }
    #expect(rows.count == 200)
    #expect(scored == bits)
  }

  @Test func championMoveInsidePLpgSQLLoadsNewModel() throws {
    let connection = try connect()
    defer { connection.close() }
    let championId = try Self.prepared.get()
    let replacement = try registerReplacement(
      connection, id: "synthetic-plpgsql", version: 998, seed: 6, championId: championId)
    defer { restoreChampion(connection, championId, removing: "synthetic-plpgsql") }

    // Simple PL/pgSQL expressions keep their function state for the whole transaction, so the
    // alias moved between the two passes must still be read again on the second.
    _ = try connection.execute(
      """
      CREATE TEMP TABLE plpgsql_scores (pass int, score real);
      DO $$
      DECLARE
          c text[];
          n float8[];
          s text[];
          score real;
      BEGIN
          SELECT cat_values, num_values, seq_values INTO c, n, s
          FROM adpilot.ad_requests
          WHERE dataset = 'synthetic'
          ORDER BY request_id, ad_id
          LIMIT 1;
          FOR pass IN 1..2 LOOP
              score := adpilot.score('synthetic', c, n, s);
              INSERT INTO plpgsql_scores VALUES (pass, score);
              UPDATE adpilot.model_aliases SET model_id = 'synthetic-plpgsql'
              WHERE name = 'synthetic' AND alias = 'champion';
          END LOOP;
      END
      $$;
      """)
    let scores = try connection.query(
      "SELECT float4send(score) FROM plpgsql_scores ORDER BY pass")
    let row = try firstRequest(connection)
    let expected = try connection.query(
      "SELECT float4send($1::real)", [.float4(try replacementScore(replacement, row))])[0].bytes(
        0)
    #expect(scores.count == 2)
    #expect(try scores[0].bytes(0) != expected)
    #expect(try scores[1].bytes(0) == expected)
  }

  @Test func championMoveSeenWhenOnlyInProgressListChanges() throws {
    let connection = try connect()
    defer { connection.close() }
    let championId = try Self.prepared.get()
    let replacement = try registerReplacement(
      connection, id: "synthetic-inprogress", version: 997, seed: 7, championId: championId)
    defer { restoreChampion(connection, championId, removing: "synthetic-inprogress") }
    _ = try connection.execute(
      """
      CREATE OR REPLACE FUNCTION pg_temp.two_passes() RETURNS text[] LANGUAGE plpgsql AS $$
      DECLARE
          c text[];
          n float8[];
          s text[];
          passes text[] := '{}';
      BEGIN
          SELECT cat_values, num_values, seq_values INTO c, n, s
          FROM adpilot.ad_requests
          WHERE dataset = 'synthetic'
          ORDER BY request_id, ad_id
          LIMIT 1;
          -- One call site, so both passes share its function state.
          FOR pass IN 1..2 LOOP
              passes := passes || ARRAY[
                  encode(float4send(adpilot.score('synthetic', c, n, s)), 'hex'),
                  txid_current_snapshot()::text];
              IF pass = 1 THEN
                  -- Waits here until the other session has committed and lets go of the lock.
                  PERFORM pg_advisory_lock(730001);
                  PERFORM pg_advisory_unlock(730001);
              END IF;
          END LOOP;
          RETURN passes;
      END
      $$
      """)
    let expected = try connection.query(
      "SELECT encode(float4send($1::real), 'hex')",
      [.float4(try replacementScore(replacement, try firstRequest(connection)))])[0].string(0)

    // An older open transaction keeps the snapshots' xmin, and a newer committed one their
    // xmax, so the mover's commit between the two passes changes only the in-progress list.
    // Any other transaction that ends meanwhile (autovacuum, other suites) moves xmax too, and
    // then the pass proves nothing, so the scenario runs again, up to five times.
    for attempt in 1...5 {
      _ = try connection.execute(
        "UPDATE adpilot.model_aliases SET model_id = $1 "
          + "WHERE name = 'synthetic' AND alias = 'champion'", [.text(championId)])
      let passes = try inProgressScenario(connection)
      let (first, second) = (passes[1].split(separator: ":"), passes[3].split(separator: ":"))
      guard first[0] == second[0], first[1] == second[1] else { continue }
      #expect(passes[0] != expected, "attempt \(attempt)")
      #expect(passes[2] == expected, "attempt \(attempt): snapshots \(passes[1]), \(passes[3])")
      return
    }
    withKnownIssue("other transactions moved xmax between the passes of every attempt") {
      Issue.record("the in-progress case was not checked")
    }
  }

  /// Returns each pass's score (hex) and snapshot from `pg_temp.two_passes()`. Another session
  /// moves the champion alias to `synthetic-inprogress` and commits between the passes, while
  /// an older transaction stays open and a newer one has committed.
  ///
  /// The mover holds advisory lock 730001 and commits once the function waits for it after its
  /// first pass, so the commit falls between the passes however slow the machine is.
  func inProgressScenario(_ connection: Connection) throws -> [String] {
    let older = try TestDatabase.connect(suite: Self.suite)
    defer { older.close() }
    _ = try older.execute("BEGIN")
    _ = try older.query("SELECT txid_current()")
    let moved = DispatchSemaphore(value: 0)
    let done = DispatchSemaphore(value: 0)
    let failure = Mutex<String?>(nil)
    Thread.detachNewThread {
      defer { done.signal() }
      do {
        let mover = try TestDatabase.connect(suite: Self.suite)
        defer { mover.close() }
        _ = try mover.query("SELECT pg_advisory_lock(730001)")
        _ = try mover.execute("BEGIN")
        _ = try mover.query("SELECT txid_current()")
        _ = try mover.execute(
          "UPDATE adpilot.model_aliases SET model_id = 'synthetic-inprogress' "
            + "WHERE name = 'synthetic' AND alias = 'champion'")
        moved.signal()
        let waiting = """
          SELECT count(*) FROM pg_locks
          WHERE locktype = 'advisory' AND objid = 730001 AND NOT granted
          """
        let deadline = Date().addingTimeInterval(30)
        while try mover.query(waiting)[0].int64(0) == 0 {
          guard Date() < deadline else {
            throw PipelineError("the scoring function never reached its second pass")
          }
          Thread.sleep(forTimeInterval: 0.01)
        }
        _ = try mover.execute("COMMIT")
        _ = try mover.query("SELECT pg_advisory_unlock(730001)")
      } catch {
        failure.withLock { $0 = "\(error)" }
        moved.signal()
      }
    }
    moved.wait()
    let newer = try TestDatabase.connect(suite: Self.suite)
    _ = try newer.query("SELECT txid_current()")
    newer.close()
    let passes = try connection.query(
      "SELECT array_to_string(pg_temp.two_passes(), '|')")[0].string(0)
    done.wait()
    _ = try older.execute("ROLLBACK")
    if let failure = failure.withLock({ $0 }) {
      throw PipelineError("the session that moves the alias failed: \(failure)")
    }
    return passes.split(separator: "|").map(String.init)
  }

  /// Points the `synthetic` champion alias back at `championId` and deletes model `replacement`.
  /// The bytes of the SQL score of the first synthetic request, so that scores compare bit for
  /// bit.
  static let firstScore = """
    SELECT float4send(adpilot.score(dataset, cat_values, num_values, seq_values))
    FROM adpilot.ad_requests
    WHERE dataset = 'synthetic'
    ORDER BY request_id, ad_id
    LIMIT 1
    """

  /// Registers a replacement model (seed 5) as `id`, makes it the champion of 'synthetic', and
  /// returns the bytes of its score of the first request, computed outside the database.
  func promoteReplacement(
    _ connection: Connection, id: String, version: Int, championId: String
  ) throws -> [UInt8] {
    let replacement = try registerReplacement(
      connection, id: id, version: version, seed: 5, championId: championId)
    _ = try connection.execute(
      "UPDATE adpilot.model_aliases SET model_id = $1 "
        + "WHERE name = 'synthetic' AND alias = 'champion'", [.text(id)])
    let row = try firstRequest(connection)
    return try connection.query(
      "SELECT float4send($1::real)", [.float4(try replacementScore(replacement, row))])[0].bytes(0)
  }

  func restoreChampion(_ connection: Connection, _ championId: String, removing replacement: String)
  {
    _ = try? connection.execute(
      "UPDATE adpilot.model_aliases SET model_id = $1 "
        + "WHERE name = 'synthetic' AND alias = 'champion'", [.text(championId)])
    _ = try? connection.execute("DELETE FROM adpilot.models WHERE id = $1", [.text(replacement)])
  }

  /// Registers an untrained logistic model `id` with the champion's feature spec for the
  /// `synthetic` name, and returns it. The caller moves the alias and deletes the model.
  func registerReplacement(
    _ connection: Connection, id: String, version: Int, seed: UInt64, championId: String
  ) throws -> LogisticModel {
    let spec = try loadModel(
      try connection.query(
        "SELECT weights FROM adpilot.models WHERE id = $1", [.text(championId)])[0].bytes(0)
    ).spec
    let replacement = try LogisticModel(spec: spec, config: TrainingConfig(), seed: seed)
    let bytes = replacement.serialized()
    _ = try connection.execute(
      """
      INSERT INTO adpilot.models (id, name, version, kind, weights, checksum, feature_spec)
      SELECT $4, 'synthetic', $5, 'logistic', $1, $2, feature_spec
      FROM adpilot.models
      WHERE id = $3
      """,
      [
        .bytea(bytes), .text(ModelRegistry.checksum(bytes)), .text(championId), .text(id),
        .int32(Int32(version)),
      ])
    return replacement
  }

  /// Returns the first synthetic request's arrays as text literals.
  func firstRequest(_ connection: Connection) throws -> Row {
    try connection.query(
      """
      SELECT cat_values::text, num_values::text, seq_values::text
      FROM adpilot.ad_requests
      WHERE dataset = 'synthetic'
      ORDER BY request_id, ad_id
      LIMIT 1
      """)[0]
  }

  /// Returns the replacement model's score of one request row given as array literals.
  func replacementScore(_ model: LogisticModel, _ row: Row) throws -> Float {
    let cat = try Self.parseTextArray(try row.string(0))
    let num = try Self.parseTextArray(try row.string(1)).map { $0.flatMap(Double.init) }
    let seq = try Self.parseTextArray(try row.string(2))
    var batch = EncodedBatch(spec: model.spec, capacity: 1)
    FeatureEncoder(spec: model.spec).append(cat: cat, num: num, seq: seq, label: 0, to: &batch)
    return model.predict(batch)[0]
  }

  /// Parses a one-dimensional array literal of simple values (no quotes, commas or braces
  /// inside elements, as the synthetic generator writes them).
  static func parseTextArray(_ literal: String) throws -> [String?] {
    let inner = literal.dropFirst().dropLast()
    if inner.isEmpty { return [] }
    return inner.split(separator: ",", omittingEmptySubsequences: false).map { element in
      let text = element.hasPrefix("\"") ? String(element.dropFirst().dropLast()) : String(element)
      return text == "NULL" ? nil : text
    }
  }

  /// Creates a LATIN1 database beside the suite's, with the registry tables the extension reads,
  /// the suite's champion in them, and the extension, and returns its settings.
  func latin1Database(championID: String, weights: [UInt8]) throws -> ConnectionConfig {
    let suiteConfig = try TestDatabase.config(suite: Self.suite)
    let name = "test_extension_latin1"
    let admin = try Connection(suiteConfig.replacingDatabase("postgres"))
    defer { admin.close() }
    let quoted = try admin.quoteIdentifier(name)
    _ = try admin.execute("DROP DATABASE IF EXISTS \(quoted) WITH (FORCE)")
    _ = try admin.execute(
      "CREATE DATABASE \(quoted) ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' "
        + "TEMPLATE template0")
    let config = suiteConfig.replacingDatabase(name)
    let latin1 = try Connection(config)
    defer { latin1.close() }
    _ = try latin1.execute("CREATE SCHEMA adpilot")
    _ = try latin1.execute(
      "CREATE TABLE adpilot.models (id text PRIMARY KEY, weights bytea, feature_spec jsonb)")
    _ = try latin1.execute(
      "CREATE TABLE adpilot.model_aliases (name text, alias text, model_id text)")
    _ = try latin1.execute("CREATE TABLE adpilot.datasets (name text, feature_spec jsonb)")
    _ = try latin1.execute(
      "INSERT INTO adpilot.models VALUES ($1, $2)", [.text(championID), .bytea(weights)])
    _ = try latin1.execute(
      "INSERT INTO adpilot.model_aliases VALUES ('synthetic', 'champion', $1)",
      [.text(championID)])
    _ = try latin1.execute("CREATE EXTENSION adpilot")
    return config
  }

  @Test func latin1DatabaseScoresLikeUTF8() throws {
    let connection = try connect()
    defer { connection.close() }
    let champion = try connection.query(
      """
      SELECT m.id, m.weights
      FROM adpilot.model_aliases a
      JOIN adpilot.models m ON m.id = a.model_id
      WHERE a.name = 'synthetic' AND a.alias = 'champion'
      """)[0]
    let config = try latin1Database(
      championID: try champion.string(0), weights: try champion.bytes(1))
    let latin1 = try Connection(config)
    defer { latin1.close() }

    // Empty strings are missing values like NULL. The second row has a non-ASCII value, which
    // is hashed as its UTF-8 bytes, and an empty behaviour item ahead of a real one.
    let width = try connection.query(
      "SELECT cardinality(cat_values) FROM adpilot.ad_requests LIMIT 1")[0].int64(0)
    let cases: [(cat: [String?], seq: [String?])] = [
      (Array(repeating: "", count: Int(width)), []),
      (Array(repeating: nil, count: Int(width)), []),
      (["\u{e9}"] + Array(repeating: "", count: Int(width) - 1), ["", "", "cat-00", "brand-000"]),
    ]
    let sql = "SELECT float4send(adpilot.score('synthetic', $1, '{}', $2))"
    var utf8Scores: [[UInt8]] = []
    for (cat, seq) in cases {
      let utf8Score = try connection.query(sql, [.textArray(cat), .textArray(seq)])[0].bytes(0)
      let latin1Score = try latin1.query(sql, [.textArray(cat), .textArray(seq)])[0].bytes(0)
      #expect(latin1Score == utf8Score, "cat_values \(cat), seq_values \(seq)")
      utf8Scores.append(utf8Score)
    }
    #expect(utf8Scores[0] == utf8Scores[1])

    let candidates = try latin1.query(
      """
      SELECT float4send(score)
      FROM adpilot.score_candidates('synthetic', ARRAY['a'], ARRAY[$1::text[]], '{}', $2)
      """, [.textArray(cases[0].cat), .textArray([])])
    #expect(try candidates[0].bytes(0) == utf8Scores[0])
  }

  @Test func statementTimeoutCancelsScoring() throws {
    let connection = try connect()
    defer { connection.close() }
    let pid = try connection.query("SELECT pg_backend_pid()")[0].int64(0)
    _ = try connection.execute("SET statement_timeout = '300ms'")
    let started = Date()
    expectError(
      connection,
      """
      SELECT count(adpilot.score(r.dataset, r.cat_values, r.num_values, r.seq_values))
      FROM adpilot.ad_requests r
      CROSS JOIN generate_series(1, 1000)
      """, "57014")
    expectError(
      connection,
      """
      SELECT count(*)
      FROM generate_series(1, 1000) g
      CROSS JOIN LATERAL adpilot.score_candidates(
          'synthetic',
          (SELECT array_agg(ad_id) FROM adpilot.ad_requests),
          (SELECT array_agg(cat_values) FROM adpilot.ad_requests),
          (SELECT coalesce(
                      array_agg(num_values) FILTER (WHERE cardinality(num_values) > 0), '{}')
           FROM adpilot.ad_requests),
          (SELECT seq_values FROM adpilot.ad_requests LIMIT 1))
      """, "57014")
    #expect(Date().timeIntervalSince(started) < 10)
    _ = try connection.execute("RESET statement_timeout")
    #expect(try connection.query("SELECT pg_backend_pid()")[0].int64(0) == pid)
  }

  @Test func candidateCallsKeepStatementMemoryFlat() throws {
    let connection = try connect()
    defer { connection.close() }
    let pid = try connection.query("SELECT pg_backend_pid()")[0].int64(0)
    // JIT compilation of the longer statement would load LLVM and raise the peak by itself.
    _ = try connection.execute("SET jit = off")
    // One score_candidates call per request and pass, in one statement.
    let calls = """
      WITH requests AS (
          SELECT request_id,
                 array_agg(ad_id ORDER BY ad_id) AS ad_ids,
                 array_agg(cat_values ORDER BY ad_id) AS cat_values,
                 min(seq_values) AS seq_values
          FROM adpilot.ad_requests
          WHERE dataset = 'synthetic'
          GROUP BY request_id
      )
      SELECT count(*)
      FROM requests q
      CROSS JOIN generate_series(1, $1::int) AS pass
      CROSS JOIN LATERAL adpilot.score_candidates(
          'synthetic', CASE WHEN pass > 0 THEN q.ad_ids END, q.cat_values, '{}',
          q.seq_values) c
      """
    #expect(try connection.query(calls, [.int32(1)])[0].int64(0) == Int64(Self.pairs))
    let before = try Self.peakResidentKilobytes(pid)
    let passes = 20
    #expect(
      try connection.query(calls, [.int32(Int32(passes))])[0].int64(0)
        == Int64(passes * Self.pairs))
    let growth = try Self.peakResidentKilobytes(pid) - before
    #expect(growth < 16_384, "the backend's peak RSS grew by \(growth) kB")
  }

  /// Returns VmHWM, the peak resident set size in kB, of process `pid` on this machine.
  static func peakResidentKilobytes(_ pid: Int64) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
      if let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) {
        return kilobytes
      }
    }
    throw PipelineError("/proc/\(pid)/status has no VmHWM line")
  }
}
