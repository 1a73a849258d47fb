// Tests of the validation metrics that `adpilot train` reports, recomputed from the registered
// model's predictions on the validation rows, and of the champion comparison they feed.

import CTR
import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot

@Suite(.serialized)
struct ValidationMetricsTests {
  static let suite = "validation_metrics"
  static let logger = Logger(minimumLevel: .warning)

  /// Three generated days of 100 users, so that many users have clicks and non-clicks on the
  /// validation day, the last one.
  static let prepared: Result<Void, any Error> = Result {
    let connection = try TestDatabase.connect(suite: suite)
    defer { connection.close() }
    let config = SyntheticConfig(
      users: 100, ads: 40, days: 3, impressionsPerDay: 3_000, maxSequenceLength: 8, seed: 5,
      requests: 10, candidatesPerRequest: 2)
    try SyntheticGenerator(config).generate(into: connection)
  }

  @Test func gaucLeavesOutRowsWithoutUser() throws {
    try Self.prepared.get()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    // Half the validation rows lose their user id, as anonymous impressions have none.
    try connection.execute(
      """
      UPDATE adpilot.impressions SET user_id = NULL
      WHERE dataset = 'synthetic' AND time >= '2026-01-07T00:00:00Z'
        AND hashtext(request_id || '/' || ad_id) % 2 = 0
      """)
    let anonymous = try #require(
      try connection.query(
        """
        SELECT count(*)::float8, sum(click)::float8 FROM adpilot.impressions
        WHERE dataset = 'synthetic' AND user_id IS NULL
        """
      ).first)
    // Rows without a user of both classes would enter gAUC as one large group.
    #expect(try anonymous.double(1) > 0)
    #expect(try anonymous.double(1) < anonymous.double(0))

    var options = TrainOptions(dataset: "synthetic")
    options.maxEpochs = 1
    options.batchSize = 256
    options.threads = 2
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    let outcome = try pipeline.run(options)
    let windows = try pipeline.trainingWindows(loadDataset(connection, name: "synthetic"))

    let model = try ModelRegistry(connection: connection).load(id: outcome.attention.record.id)
    let encoder = FeatureEncoder(spec: model.spec)
    var batch = EncodedBatch(spec: model.spec, capacity: 4_096)
    var users: [String?] = []
    try streamImpressions(connection, windows.validation) { row in
      encoder.append(cat: row.cat, num: row.num, seq: row.seq, label: row.label, to: &batch)
      users.append(row.userId)
    }
    let predictions = model.predict(batch)
    var rowsByUser: [String: [Int]] = [:]
    for (index, user) in users.enumerated() {
      if let user { rowsByUser[user, default: []].append(index) }
    }
    var weightedSum = 0.0
    var weight = 0.0
    var groups = 0
    for rows in rowsByUser.values {
      let auc = Metrics.auc(
        predictions: rows.map { predictions[$0] }, labels: rows.map { batch.labels[$0] })
      guard let auc else { continue }
      weightedSum += auc * Double(rows.count)
      weight += Double(rows.count)
      groups += 1
    }
    #expect(groups > 0)
    let report = outcome.attention.report
    #expect(report.gaucGroups == groups)
    let gauc = try #require(report.gauc)
    #expect(abs(gauc - weightedSum / weight) < 1e-12)
  }

  /// Writes the header and first 1,000 rows of the Criteo sample to `criteo.csv` in `directory`
  /// and returns its address.
  static func criteoSample(in directory: URL) throws -> URL {
    let lines = try String(
      contentsOf: TestData.shared("criteo-dac/criteo_dac_first10k.csv"), encoding: .utf8
    ).split(separator: "\n").prefix(1_001)
    let file = directory.appendingPathComponent("criteo.csv")
    try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
    return file
  }

  /// Returns options for one epoch in batches of 64 on 2 threads, quick on the 1,000-row sample.
  static func onePass(dataset: String) -> TrainOptions {
    var options = TrainOptions(dataset: dataset)
    options.maxEpochs = 1
    options.batchSize = 64
    options.threads = 2
    return options
  }

  @Test func reloadedSplitKeepsChampionUncompared() throws {
    try Self.prepared.get()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = try Self.criteoSample(in: directory)

    _ = try CriteoImporter.importFile(connection, file: file, dataset: "reloaded", seed: 0)
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    var options = Self.onePass(dataset: "reloaded")
    #expect(try pipeline.run(options).champion != nil)
    // Retraining on the same split compares log losses as usual.
    options.seed = 2
    let same = try pipeline.run(options)
    #expect(!same.championReason.contains("not comparable"))
    let champion = try #require(same.champion)

    // Another split seed draws a new fifth of the rows as 'test', and about four in five of them
    // are rows the champion learned from.
    _ = try CriteoImporter.importFile(connection, file: file, dataset: "reloaded", seed: 1)
    options.seed = 1
    let reloaded = try pipeline.run(options)
    #expect(reloaded.champion?.id == champion.id)
    #expect(
      reloaded.championReason.hasPrefix(
        "kept: champion \(champion.id) was trained on another 'train' split of data set "
          + "'reloaded' than the one loaded now"))
    #expect(
      try ModelRegistry(connection: connection).alias("champion", of: "reloaded") == champion.id)
  }

  /// Imports the Criteo sample as `dataset` with split seed 0, trains a champion on it, and
  /// imports the sample again with split seed 1. About four in five of the new 'test' rows are
  /// then rows the champion learned from. Returns the champion and the training options.
  func championOfResplitSample(_ connection: Connection, dataset: String) throws -> (
    champion: ModelRecord, options: TrainOptions
  ) {
    let directory = try TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = try Self.criteoSample(in: directory)
    _ = try CriteoImporter.importFile(connection, file: file, dataset: dataset, seed: 0)
    let options = Self.onePass(dataset: dataset)
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    let champion = try #require(try pipeline.run(options).champion)
    _ = try CriteoImporter.importFile(connection, file: file, dataset: dataset, seed: 1)
    return (champion, options)
  }

  @Test func warmStartOnReloadedSplitIsNotCompared() throws {
    try Self.prepared.get()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    var (champion, options) = try championOfResplitSample(connection, dataset: "rewarmed")
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)

    // The model that continues the champion inherits what it learned from the new 'test' rows.
    var warm = options
    warm.warmStart = true
    let warmed = try pipeline.run(warm)
    #expect(warmed.champion?.id == champion.id)
    let continued = champion.kind == "logistic" ? warmed.logistic.record : warmed.attention.record
    #expect(
      warmed.warmStartSplitNote
        == "note: champion \(champion.id) was trained on another 'train' split of data set "
        + "'rewarmed' than the one loaded now, so the 'test' split may contain rows it learned "
        + "from, and the metrics of \(continued.id), which continued it, may count them. The "
        + "registry keeps \(continued.id) out of log-loss comparisons on this split; train "
        + "without --warm-start for a model that can be compared")

    // Promoted by hand, the continued model is still kept out of comparisons on this split.
    let registry = ModelRegistry(connection: connection)
    _ = try registry.promote(id: continued.id, reason: "test")
    options.seed = 3
    let fresh = try pipeline.run(options)
    #expect(fresh.warmStartSplitNote == nil)
    #expect(fresh.champion?.id == continued.id)
    #expect(
      fresh.championReason.hasPrefix(
        "kept: champion \(continued.id) was trained on another 'train' split of data set "
          + "'rewarmed' than the one loaded now"), "\(fresh.championReason)")

    // A warm start from a champion of the split loaded now adds no note.
    _ = try registry.promote(id: fresh.attention.record.id, reason: "test")
    let again = try pipeline.run(warm)
    #expect(again.warmStartSplitNote == nil)
  }

  @Test func warmStartRacingPromotionIsNotCompared() throws {
    try Self.prepared.get()
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    var (champion, options) = try championOfResplitSample(connection, dataset: "raced")
    var pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    options.seed = 3
    let fresh = try pipeline.run(options)
    #expect(fresh.champion?.id == champion.id)
    let freshBest =
      fresh.attention.report.logLoss < fresh.logistic.report.logLoss
      ? fresh.attention.record : fresh.logistic.record

    // The warm start reads the old champion, and while it trains another run promotes the
    // fresh model of the split loaded now.
    let other = try TestDatabase.connect(suite: Self.suite)
    defer { other.close() }
    pipeline.afterTrainingRowsCached = {
      _ = try ModelRegistry(connection: other).promote(id: freshBest.id, reason: "test")
    }
    var warm = options
    warm.warmStart = true
    let warmed = try pipeline.run(warm)
    #expect(warmed.warmStartedFrom?.id == champion.id)
    let continued = champion.kind == "logistic" ? warmed.logistic : warmed.attention
    let restarted = champion.kind == "logistic" ? warmed.attention : warmed.logistic
    // The continued model learned from most of the 'test' rows, so it is the challenger.
    #expect(continued.report.logLoss < restarted.report.logLoss)
    #expect(warmed.champion?.id == freshBest.id)
    #expect(
      warmed.championReason
        == "kept: challenger \(continued.record.id) continued champion \(champion.id), which "
        + "was trained on another 'train' split of data set 'raced' than the one loaded now, so "
        + "its log loss is not comparable; train without --warm-start")
  }
}
