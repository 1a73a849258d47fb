// Tests of the training data path: byte-level encoding, the on-disk cache and its shuffle,
// negative downsampling with its correction, and warm starts from a registered champion.

import CTR
import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot
@testable import CTR

// MARK: - Without a database

/// Encodes one row both ways: `FeatureEncoder.append` on strings and `EncodedRecordWriter` on
/// bytes.
private func encodeBothWays(
  spec: FeatureSpec, cat: [String?], num: [Double?], seq: [String?], label: Float
) -> (strings: EncodedBatch, bytes: EncodedBatch) {
  let encoder = FeatureEncoder(spec: spec)
  var fromStrings = EncodedBatch(spec: spec, capacity: 1)
  encoder.append(cat: cat, num: num, seq: seq, label: label, to: &fromStrings)
  var record = [Int32](repeating: -7, count: encoder.recordWidth)
  record.withUnsafeMutableBufferPointer { buffer in
    guard let start = buffer.baseAddress else { return }
    var writer = EncodedRecordWriter(encoder: encoder, record: start)
    for value in cat {
      guard let value else {
        writer.appendCategorical(nil)
        continue
      }
      Array(value.utf8).withUnsafeBytes { writer.appendCategorical($0) }
    }
    for value in num { writer.appendNumeric(value) }
    for value in seq {
      guard let value else {
        writer.appendSequenceValue(nil)
        continue
      }
      Array(value.utf8).withUnsafeBytes { writer.appendSequenceValue($0) }
    }
    writer.finish(label: label)
  }
  var fromBytes = EncodedBatch(spec: spec, capacity: 1)
  record.withUnsafeBufferPointer { buffer in
    if let start = buffer.baseAddress { fromBytes.appendRecord(start) }
  }
  return (fromStrings, fromBytes)
}

@Test func byteEncodingMatchesStringEncoding() {
  let spec = FeatureSpec(
    categorical: [
      CategoricalField(name: "user", role: .user, buckets: 97),
      CategoricalField(name: "ad_category", role: .ad, buckets: 31),
      CategoricalField(name: "ad_brand", role: .ad, buckets: 53),
    ],
    numeric: [NumericField(name: "price", role: .context, buckets: 12)],
    sequence: [
      SequenceField(name: "hist_category", sharesEmbeddingWith: "ad_category"),
      SequenceField(name: "hist_brand", sharesEmbeddingWith: "ad_brand"),
    ],
    maxSequenceLength: 3)
  let cases: [(cat: [String?], num: [Double?], seq: [String?])] = [
    (["u1", "c2", "b3"], [4.5], ["c1", "b1", "c2", "b2"]),
    ([nil, "", "bé"], [nil], []),
    (["u1"], [], [nil, nil, "c9", nil, "", "", "c1", "b1", "c2", "b2", "c3", "b3"]),
    (["u1", "c2", "b3", "extra"], [0, 9], ["c1", "b1", "c2"]),
  ]
  for (index, row) in cases.enumerated() {
    let result = encodeBothWays(
      spec: spec, cat: row.cat, num: row.num, seq: row.seq, label: Float(index % 2))
    #expect(result.bytes.fieldRows == result.strings.fieldRows, "case \(index)")
    #expect(result.bytes.sequenceRows == result.strings.sequenceRows, "case \(index)")
    #expect(result.bytes.sequenceLengths == result.strings.sequenceLengths, "case \(index)")
    #expect(result.bytes.labels == result.strings.labels, "case \(index)")
  }
}

@Test func correctionMatchesHandValues() {
  // q = p / (p + (1 - p) / w): p = 0.5, w = 0.25 gives 0.5 / 2.5 = 0.2; p = 0.75, w = 0.5 gives
  // 0.75 / 1.25 = 0.6; p = 0.1, w = 0.1 gives 0.1 / 9.1.
  let cases: [(logit: Float, rate: Float, expected: Float)] = [
    (0, 0.25, 0.2), (log(3), 0.5, 0.6), (-log(9), 0.1, 0.1 / 9.1), (0, 1, 0.5),
  ]
  for item in cases {
    let q = Probability.corrected(logit: item.logit, negativeSampleRate: item.rate)
    #expect(abs(q - item.expected) < 1e-6, "logit \(item.logit), w \(item.rate): got \(q)")
  }
}

@Test func negativeSamplingIsDeterministic() {
  let sampling = NegativeSampling(rate: 0.25, seed: 5)
  let ids = (0..<100_000).map { "r\($0)" }
  let kept = ids.filter { sampling.keeps(requestId: $0, adId: "ad7") }
  let again = ids.filter { sampling.keeps(requestId: $0, adId: "ad7") }
  let otherSeed = ids.filter {
    NegativeSampling(rate: 0.25, seed: 6).keeps(requestId: $0, adId: "ad7")
  }
  #expect(kept == again)
  #expect(kept != otherSeed)
  // 25,000 expected; the binomial standard deviation is about 137.
  #expect(abs(kept.count - 25_000) < 700, "kept \(kept.count)")
  #expect(ids.allSatisfy { NegativeSampling(rate: 1, seed: 5).keeps(requestId: $0, adId: "") })
}

@Test func warmStartSpecDifferenceNamesField() {
  let champion = FeatureSpec(
    categorical: [CategoricalField(name: "ad_id", role: .ad, buckets: 1000)])
  var dataset = champion
  dataset.categorical[0].buckets = 2000
  #expect(
    TrainingPipeline.specDifference(champion: champion, dataset: dataset)
      == "field 1 is categorical 'ad_id' (1000 buckets) in the champion but categorical "
      + "'ad_id' (2000 buckets) in the data set")
  #expect(TrainingPipeline.specDifference(champion: champion, dataset: champion) == nil)
}

@Test func warmStartKeepsPredictionsAcrossRates() throws {
  let spec = FeatureSpec(
    categorical: [
      CategoricalField(name: "user_city", role: .user, buckets: 8),
      CategoricalField(name: "ad_id", role: .ad, buckets: 8),
    ])
  let encoder = FeatureEncoder(spec: spec)
  var batch = EncodedBatch(spec: spec, capacity: 6)
  for row in 0..<6 {
    encoder.append(cat: ["c\(row % 3)", "a\(row)"], num: [], seq: [], label: 0, to: &batch)
  }
  var config = TrainingConfig()
  config.attentionHidden = [4]
  config.mlpHidden = [4]
  for kind in [ModelKind.attention, .logistic] {
    // A champion trained keeping a quarter of the negatives, continued keeping all of them.
    var trained = config
    trained.negativeSampleRate = 0.25
    let model: any ClickModel =
      kind == .logistic
      ? try LogisticModel(spec: spec, config: trained, seed: 3)
      : try AttentionModel(spec: spec, config: trained, seed: 3)
    model.shiftOutputBias(by: 0.7)
    _ = try Trainer(model: model, config: trained)
    let before = model.predict(batch)
    TrainingPipeline.moveOutputBias(of: model, toNegativeRate: 1)
    _ = try Trainer(model: model, config: config)
    let after = model.predict(batch)
    for (p, q) in zip(before, after) {
      #expect(abs(q - p) <= 1e-6 * p, "\(kind): \(p) became \(q)")
    }
    // At the same rate the bias stays where it is.
    TrainingPipeline.moveOutputBias(of: model, toNegativeRate: 1)
    #expect(model.predict(batch) == after, "\(kind)")
  }
}

// MARK: - On a real PostgreSQL

@Suite(.serialized)
struct TrainingDataTests {
  static let suite = "training_data"
  static let logger = Logger(minimumLevel: .warning)

  /// Four generated days; the last day is held back in `held_impressions` until a test needs it.
  static let prepared: Result<Void, any Error> = Result {
    let connection = try TestDatabase.connect(suite: suite)
    defer { connection.close() }
    let config = SyntheticConfig(
      users: 600, ads: 60, days: 4, impressionsPerDay: 3_000, maxSequenceLength: 8, seed: 11,
      requests: 10, candidatesPerRequest: 2)
    try SyntheticGenerator(config).generate(into: connection)
    try connection.execute(
      """
      CREATE TABLE held_impressions AS
      SELECT * FROM adpilot.impressions WHERE time >= '2026-01-08T00:00:00Z'
      """)
    try connection.execute(
      "DELETE FROM adpilot.impressions WHERE time >= '2026-01-08T00:00:00Z'")
  }

  func connect() throws -> Connection {
    try Self.prepared.get()
    return try TestDatabase.connect(suite: Self.suite)
  }

  func filter(_ connection: Connection) throws -> TrainingWindows {
    let dataset = try loadDataset(connection, name: "synthetic")
    return try TrainingPipeline(connection: connection, logger: Self.logger)
      .trainingWindows(dataset)
  }

  @Test func cachedPassRepeatsStreamedPass() throws {
    let connection = try connect()
    defer { connection.close() }
    let dataset = try loadDataset(connection, name: "synthetic")
    let windows = try filter(connection)
    let rows = try CachedRows(connection: connection, spec: dataset.spec, sampling: nil)
    var streamed = EncodedBatch(spec: dataset.spec, capacity: 0)
    var cached = EncodedBatch(spec: dataset.spec, capacity: 0)
    let first = try rows.forEachTrainingBatch(
      windows.train, shuffleBuffer: 1000, batchSize: 256, seed: 9
    ) { streamed.append(contentsOf: $0) }
    let second = try rows.forEachTrainingBatch(
      windows.train, shuffleBuffer: 1000, batchSize: 256, seed: 9
    ) { cached.append(contentsOf: $0) }
    let statistics = try impressionStatistics(connection, windows.train)
    #expect(first == statistics.rows)
    #expect(second == statistics.rows)
    #expect(streamed.count == statistics.rows)
    #expect(cached.labels == streamed.labels)
    #expect(cached.fieldRows == streamed.fieldRows)
    #expect(cached.sequenceRows == streamed.sequenceRows)
    #expect(cached.sequenceLengths == streamed.sequenceLengths)
    #expect(Int(streamed.labels.reduce(0, +)) == statistics.clicks)
  }

  @Test func epochBatchesMixTheWindowsDays() throws {
    let connection = try connect()
    defer { connection.close() }
    let dataset = try loadDataset(connection, name: "synthetic")
    let windows = try filter(connection)
    let rows = try CachedRows(connection: connection, spec: dataset.spec, sampling: nil)
    var batches: [EncodedBatch] = []
    _ = try rows.forEachTrainingBatch(
      windows.train, shuffleBuffer: 1000, batchSize: 256, seed: 9
    ) { batches.append($0) }
    var logged = EncodedBatch(spec: dataset.spec, capacity: 0)
    try rows.forEachCachedTrainingBatch(batchSize: 700) { logged.append(contentsOf: $0) }

    // The two training days hold about 3,000 rows each. Read in time order, a block of 1,000
    // rows would come from the first day alone. Drawn as 16 chunks, it spans both.
    let weekday = try #require(dataset.spec.categorical.firstIndex { $0.name == "weekday" })
    let first = try #require(batches.first)
    let allDays = Set((0..<logged.count).map { logged.fieldRows[$0 * logged.fieldCount + weekday] })
    let firstDays = Set((0..<first.count).map { first.fieldRows[$0 * first.fieldCount + weekday] })
    #expect(allDays.count == 2)
    #expect(firstDays == allDays)

    // Every logged row comes out exactly once per pass.
    func sortedRows(_ batches: [EncodedBatch]) -> [[Int32]] {
      batches.flatMap { batch in
        (0..<batch.count).map { row in
          Array(batch.fieldRows[(row * batch.fieldCount)..<((row + 1) * batch.fieldCount)])
            + [Int32(batch.labels[row])]
        }
      }.sorted { $0.lexicographicallyPrecedes($1) }
    }
    #expect(logged.count == (try impressionStatistics(connection, windows.train).rows))
    #expect(sortedRows(batches) == sortedRows([logged]))
  }

  @Test func encodedStreamMatchesStringRows() throws {
    let connection = try connect()
    defer { connection.close() }
    let dataset = try loadDataset(connection, name: "synthetic")
    let windows = try filter(connection)
    let encoder = FeatureEncoder(spec: dataset.spec)
    var expected = EncodedBatch(spec: dataset.spec, capacity: 0)
    var expectedGroups: [UInt64] = []
    try streamImpressions(connection, windows.validation) { row in
      encoder.append(cat: row.cat, num: row.num, seq: row.seq, label: row.label, to: &expected)
      expectedGroups.append(row.userId.map { $0.isEmpty ? 0 : stableHash($0) } ?? 0)
    }
    let rows = try CachedRows(connection: connection, spec: dataset.spec, sampling: nil)
    var actual = EncodedBatch(spec: dataset.spec, capacity: 0)
    var groups: [UInt64] = []
    try rows.forEachValidationBatch(windows.validation, batchSize: 700) { batch, batchGroups in
      actual.append(contentsOf: batch)
      groups += batchGroups
    }
    #expect(expected.count == (try impressionStatistics(connection, windows.validation).rows))
    #expect(actual.count == expected.count)
    #expect(actual.fieldRows == expected.fieldRows)
    #expect(actual.sequenceRows == expected.sequenceRows)
    #expect(actual.sequenceLengths == expected.sequenceLengths)
    #expect(actual.labels == expected.labels)
    #expect(groups == expectedGroups)
  }

  @Test func cacheLeavesNothingOnDisk() throws {
    let connection = try connect()
    defer { connection.close() }
    let dataset = try loadDataset(connection, name: "synthetic")
    let windows = try filter(connection)
    let rows = try CachedRows(connection: connection, spec: dataset.spec, sampling: nil)
    // The files are open but unlinked, and their directory is gone before the first pass.
    #expect(!FileManager.default.fileExists(atPath: rows.directory.path))
    var read = 0
    _ = try rows.forEachTrainingBatch(
      windows.train, shuffleBuffer: 100, batchSize: 16, seed: 1
    ) { read += $0.count }
    #expect(read == (try impressionStatistics(connection, windows.train).rows))
    struct Stop: Error {}
    #expect(throws: Stop.self) {
      _ = try rows.forEachTrainingBatch(
        windows.train, shuffleBuffer: 100, batchSize: 16, seed: 2
      ) { _ in throw Stop() }
    }
    // The connection is usable after the run.
    #expect(try impressionStatistics(connection, windows.validation).rows > 2_000)
  }

  @Test func corruptCacheFailsWithError() throws {
    let connection = try connect()
    defer { connection.close() }
    let dataset = try loadDataset(connection, name: "synthetic")
    let windows = try filter(connection)
    let rows = try CachedRows(connection: connection, spec: dataset.spec, sampling: nil)
    _ = try rows.forEachTrainingBatch(
      windows.train, shuffleBuffer: 1000, batchSize: 256, seed: 1
    ) { _ in }
    try rows.forEachValidationBatch(windows.validation, batchSize: 256) { _, _ in }

    // The files are unlinked, so they are reached through this process's descriptors.
    func descriptor(_ name: String) throws -> Int32 {
      let path = rows.directory.path + "/" + name
      let entries = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
      return try #require(
        entries.compactMap { Int32($0) }.first { number in
          let target = try? FileManager.default.destinationOfSymbolicLink(
            atPath: "/proc/self/fd/\(number)")
          return target?.hasPrefix(path) == true
        })
    }
    // Cached records start with two words of the user group, then the encoder's record.
    let lengthWord = 2 + 1 + dataset.spec.fieldCount
    var length: Int32 = 1_000
    #expect(pwrite(try descriptor("train.records"), &length, 4, off_t(lengthWord * 4)) == 4)
    var label = Float(7).bitPattern
    #expect(pwrite(try descriptor("validation.records"), &label, 4, 2 * 4) == 4)

    func message(_ body: () throws -> Void) -> String? {
      do {
        try body()
        return nil
      } catch {
        return (error as? PipelineError)?.message
      }
    }
    let trainPath = rows.directory.path + "/train.records"
    let corruptTraining = message {
      _ = try rows.forEachTrainingBatch(
        windows.train, shuffleBuffer: 1000, batchSize: 256, seed: 2
      ) { _ in }
    }
    #expect(
      corruptTraining
        == "training cache file '\(trainPath)' is corrupt: word \(lengthWord) of record 0 has a "
        + "value the encoder never writes; check the file system under TMPDIR and train again")
    let corruptCached = message {
      try rows.forEachCachedTrainingBatch(batchSize: 256) { _ in }
    }
    #expect(corruptCached == corruptTraining)
    let validationPath = rows.directory.path + "/validation.records"
    let corruptValidation = message {
      try rows.forEachValidationBatch(windows.validation, batchSize: 256) { _, _ in }
    }
    #expect(
      corruptValidation
        == "training cache file '\(validationPath)' is corrupt: word 2 of record 0 has a value "
        + "the encoder never writes; check the file system under TMPDIR and train again")
  }

  @Test func downsampledModelStaysCalibrated() throws {
    let connection = try connect()
    defer { connection.close() }
    let windows = try filter(connection)
    var options = TrainOptions(dataset: "synthetic")
    options.modelName = "sampled"
    options.maxEpochs = 2
    options.batchSize = 256
    options.negativeRate = 0.25
    let outcome = try TrainingPipeline(connection: connection, logger: Self.logger).run(options)

    // The rows dropped are exactly the non-clicks that the sampling rule rejects.
    let sampling = NegativeSampling(rate: 0.25, seed: options.seed)
    var dropped = 0
    try streamImpressions(connection, windows.train) { row in
      if row.label == 0 && !sampling.keeps(requestId: row.requestId, adId: row.adId) {
        dropped += 1
      }
    }
    let statistics = try impressionStatistics(connection, windows.train)
    #expect(outcome.droppedNegatives == dropped)
    #expect(outcome.trainRows == statistics.rows - dropped)
    #expect(
      outcome.validationRows == (try impressionStatistics(connection, windows.validation).rows))

    let model = try ModelRegistry(connection: connection).load(id: outcome.attention.record.id)
    #expect((model as? AttentionModel)?.negativeSampleRate == 0.25)
    var batch = EncodedBatch(spec: model.spec, capacity: 3_000)
    let encoder = FeatureEncoder(spec: model.spec)
    try streamImpressions(connection, windows.validation) { row in
      encoder.append(cat: row.cat, num: row.num, seq: row.seq, label: row.label, to: &batch)
    }
    let predicted = model.predict(batch).reduce(0.0) { $0 + Double($1) }
    let clicks = batch.labels.reduce(0.0) { $0 + Double($1) }
    // The validation day has about 50 clicks, so Poisson noise alone is about 14%. Corrected
    // predictions must add up to the clicks within 25%; uncorrected ones would come out about
    // 1 / (p + 0.25 (1 - p)), nearly 4 times, too high.
    #expect(abs(predicted / clicks - 1) < 0.25, "predicted \(predicted), clicks \(clicks)")

    // After training, each model's output bias is refitted so that its predictions at the
    // sampled rate add up to the clicks of the rows it trained on.
    var keptRows = EncodedBatch(spec: model.spec, capacity: 8_000)
    try streamImpressions(connection, windows.train) { row in
      guard row.label == 1 || sampling.keeps(requestId: row.requestId, adId: row.adId) else {
        return
      }
      encoder.append(cat: row.cat, num: row.num, seq: row.seq, label: row.label, to: &keptRows)
    }
    let keptClicks = keptRows.labels.reduce(0.0) { $0 + Double($1) }
    let logistic = try ModelRegistry(connection: connection).load(id: outcome.logistic.record.id)
    for trained in [model, logistic] {
      let sampledRate = trained.predict(keptRows).reduce(0.0) { sum, q in
        sum + Double(q) / (Double(q) + (1 - Double(q)) * 0.25)
      }
      #expect(abs(sampledRate / keptClicks - 1) < 1e-4, "\(sampledRate) against \(keptClicks)")
    }
  }

  @Test func trainAndValidationShareSnapshot() throws {
    let connection = try connect()
    defer { connection.close() }
    let windows = try filter(connection)
    let validationRows = try impressionStatistics(connection, windows.validation).rows
    // Another session logs a later day between the reads of the training and validation rows.
    // The validation window has no end, so a read outside the run's snapshot would count it.
    let other = try TestDatabase.connect(suite: Self.suite)
    defer { other.close() }
    var pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    pipeline.afterTrainingRowsCached = {
      try other.execute("INSERT INTO adpilot.impressions SELECT * FROM held_impressions")
    }
    defer {
      _ = try? connection.execute(
        "DELETE FROM adpilot.impressions WHERE time >= '2026-01-08T00:00:00Z'")
    }
    var options = TrainOptions(dataset: "synthetic")
    options.modelName = "snapshot"
    options.maxEpochs = 1
    options.batchSize = 256
    let outcome = try pipeline.run(options)
    #expect(outcome.validationRows == validationRows)
    #expect(try impressionStatistics(connection, windows.validation).rows > validationRows)
  }

  @Test func overlappingChampionIsNotCompared() throws {
    let connection = try connect()
    defer { connection.close() }
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    var options = TrainOptions(dataset: "synthetic")
    options.modelName = "overlap"
    options.maxEpochs = 1
    options.batchSize = 256
    let first = try #require(try pipeline.run(options).champion)
    // Two validation days start a day before the end of the champion's training window.
    options.validationDays = 2
    let second = try pipeline.run(options)
    #expect(second.champion?.id == first.id)
    #expect(
      second.championReason.hasPrefix(
        "kept: champion \(first.id) trained on rows up to 2026-01-07T00:00:00.000Z, "
          + "after the validation rows start (2026-01-06T00:00:00.000Z)"))
    #expect(
      try ModelRegistry(connection: connection).alias("champion", of: "overlap") == first.id)
    // With one validation day again, the windows do not overlap and the losses are compared.
    options.validationDays = 1
    options.seed = 3
    let third = try pipeline.run(options)
    #expect(!third.championReason.contains("not comparable"))
  }

  @Test func warmStartContinuesFromChampion() throws {
    let connection = try connect()
    defer { connection.close() }
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    var options = TrainOptions(dataset: "synthetic")
    options.modelName = "warm"
    options.maxEpochs = 1
    options.batchSize = 256
    _ = try pipeline.run(options)
    let champion = try #require(try ModelRegistry(connection: connection).champion(of: "warm"))

    // A later day arrives: day 3 becomes training data and day 4 validates.
    try connection.execute("INSERT INTO adpilot.impressions SELECT * FROM held_impressions")
    defer {
      _ = try? connection.execute(
        "DELETE FROM adpilot.impressions WHERE time >= '2026-01-08T00:00:00Z'")
    }
    // 2026-01-07T00:00:00Z up to 2026-01-08T00:00:00Z.
    let newDay = ImpressionFilter(
      dataset: "synthetic", from: Date(timeIntervalSince1970: 1_767_744_000),
      to: Date(timeIntervalSince1970: 1_767_830_400))

    // With a batch as large as the new day, the first step's loss before its update is the
    // champion's loss on the whole day.
    var warm = options
    warm.warmStart = true
    warm.batchSize = 4_096
    // Without an activation, a warm start takes the champion's.
    warm.mlpActivation = nil
    let second = try pipeline.run(warm)
    #expect(second.warmStartedFrom?.id == champion.record.id)
    let newDayRows = try impressionStatistics(connection, newDay).rows
    #expect(newDayRows > 2_000)
    #expect(second.trainRows == newDayRows)
    #expect(second.validationDescription.contains("from 2026-01-07T00:00:00.000Z"))

    var config = TrainingConfig()
    config.batchSize = 4_096
    let encoder = FeatureEncoder(spec: champion.model.spec)
    var batch = EncodedBatch(spec: champion.model.spec, capacity: 3_000)
    try streamImpressions(connection, newDay) { row in
      encoder.append(cat: row.cat, num: row.num, seq: row.seq, label: row.label, to: &batch)
    }
    #expect(batch.count == newDayRows)
    let expectedLoss = try Trainer(model: champion.model, config: config).loss(batch)
    let firstLoss =
      champion.model.kind == .logistic
      ? second.firstStepLoss.logistic : second.firstStepLoss.attention
    #expect(abs(Double(firstLoss) - expectedLoss) < 1e-4, "\(firstLoss) vs \(expectedLoss)")
    // A fresh model starts at the base rate's loss, well above a trained champion's.
    let fresh = try pipeline.run(options)
    #expect(abs(Double(fresh.firstStepLoss.attention) - expectedLoss) > 1e-3)
  }

  @Test func warmStartWithoutNewDaysNamesFix() throws {
    let connection = try connect()
    defer { connection.close() }
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    let dataset = try loadDataset(connection, name: "synthetic")
    let model = try LogisticModel(spec: dataset.spec, config: TrainingConfig(), seed: 1)
    let record = ModelRecord(
      id: "warm-v1", name: "warm", version: 1, kind: "logistic", checksum: "",
      validationLogLoss: nil, createdAt: "")
    // The champion trained up to the last logged day, 2026-01-07T00:00:00Z.
    let start = WarmStartPoint(
      record: record, model: model, trainTo: Date(timeIntervalSince1970: 1_767_744_000))
    let prefix =
      "warm start: champion 'warm-v1' was trained on rows up to 2026-01-07T00:00:00.000Z, so no "
      + "newer day is left before the validation rows from "
    for (days, expected) in [
      (1, "2026-01-07T00:00:00.000Z; load a later day of logs first"),
      (2, "2026-01-06T00:00:00.000Z; load a later day of logs first, or lower --validation-days"),
    ] {
      let windows = try pipeline.trainingWindows(dataset, validationDays: days)
      do {
        _ = try pipeline.warmStartWindows(
          windows, dataset: dataset, after: start, validationDays: days)
        Issue.record("a warm start without newer days did not fail (\(days) validation days)")
      } catch let error as PipelineError {
        #expect(error.message == prefix + expected)
      }
    }
  }

  @Test func warmStartRejectsOtherSpec() throws {
    let connection = try connect()
    defer { connection.close() }
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    var options = TrainOptions(dataset: "synthetic")
    options.modelName = "mismatch"
    options.maxEpochs = 1
    let first = try #require(try pipeline.run(options).champion)
    let spec = try loadDataset(connection, name: "synthetic").spec
    var changed = spec
    changed.categorical[0].buckets += 1
    let json = String(decoding: try JSONEncoder().encode(changed), as: UTF8.self)
    try connection.execute(
      "UPDATE adpilot.datasets SET feature_spec = $1::jsonb WHERE name = 'synthetic'",
      [.text(json)])
    defer {
      let original = String(decoding: (try? JSONEncoder().encode(spec)) ?? Data(), as: UTF8.self)
      _ = try? connection.execute(
        "UPDATE adpilot.datasets SET feature_spec = $1::jsonb WHERE name = 'synthetic'",
        [.text(original)])
    }
    var warm = options
    warm.warmStart = true
    let field = spec.categorical[0]
    do {
      _ = try pipeline.run(warm)
      Issue.record("warm start with another spec did not fail")
    } catch let error as PipelineError {
      let champion: String = first.id
      let name: String = field.name
      let buckets: Int = field.buckets
      var expected = "warm start: champion '\(champion)' has another feature spec than data set "
      expected += "'synthetic': field 1 is categorical '\(name)' (\(buckets) buckets) in the "
      expected += "champion but categorical '\(name)' (\(buckets + 1) buckets) in the data set; "
      expected += "train without --warm-start to start fresh"
      #expect(error.message == expected)
    }
  }

  @Test func thresholdOutsideUnitIntervalIsRejected() throws {
    let connection = try connect()
    defer { connection.close() }
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    for threshold in [0, 1, 1.5, -0.1] {
      var options = TrainOptions(dataset: "synthetic")
      options.threshold = threshold
      do {
        _ = try pipeline.run(options)
        Issue.record("threshold \(threshold) did not fail")
      } catch let error as PipelineError {
        #expect(
          error.message
            == "threshold must be in (0, 1), got \(threshold); pass a pCTR such as 0.05, or "
            + "leave it out to use the training click rate")
      }
    }
  }

  @Test func negativeL2IsRejected() throws {
    let connection = try connect()
    defer { connection.close() }
    var options = TrainOptions(dataset: "synthetic")
    options.l2 = -1e-5
    do {
      _ = try TrainingPipeline(connection: connection, logger: Self.logger).run(options)
      Issue.record("a negative l2 did not fail")
    } catch {
      #expect("\(error)".contains("l2 must be >= 0, got -1e-05"))
    }
  }

  @Test func trainingRowsOfOneClassAreRejected() throws {
    let connection = try connect()
    defer { connection.close() }
    for (name, click) in [("no_clicks", 0), ("only_clicks", 1)] {
      try connection.execute(
        """
        INSERT INTO adpilot.datasets (name, feature_spec, validation, source)
        SELECT $1::text, feature_spec, validation, source FROM adpilot.datasets
        WHERE name = 'synthetic'
        """, [.text(name)])
      try connection.execute(
        """
        INSERT INTO adpilot.impressions
        SELECT (jsonb_populate_record(i, jsonb_build_object('dataset', $1::text, 'click', $2::int))).*
        FROM adpilot.impressions i WHERE dataset = 'synthetic' AND time < '2026-01-08T00:00:00Z'
        """, [.text(name), .int32(Int32(click))])
    }
    // The copies contain 2026-01-05 to 2026-01-07, so training ends where the last day begins.
    let rows = try connection.query(
      """
      SELECT count(*) FROM adpilot.impressions
      WHERE dataset = 'no_clicks' AND time < '2026-01-07T00:00:00Z'
      """)[0].int64(0)
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    for (name, found) in [("no_clicks", "no clicks"), ("only_clicks", "only clicks")] {
      do {
        _ = try pipeline.run(TrainOptions(dataset: name))
        Issue.record("training on '\(name)' did not fail")
      } catch let error as PipelineError {
        #expect(
          error.message
            == "data set '\(name)' has \(found) in its \(rows) training rows (training rows: "
            + "before 2026-01-07T00:00:00.000Z; validation rows: the last day, from "
            + "2026-01-07T00:00:00.000Z); check that the click column was loaded, or train "
            + "over a longer window")
      }
      #expect(try ModelRegistry(connection: connection).champion(of: name) == nil)
    }

    // A data set with splits has no longer window to offer.
    try connection.execute(
      "UPDATE adpilot.datasets SET validation = 'split' WHERE name = 'no_clicks'")
    try connection.execute(
      "UPDATE adpilot.impressions SET split = 'train' WHERE dataset = 'no_clicks'")
    do {
      _ = try pipeline.run(TrainOptions(dataset: "no_clicks"))
      Issue.record("training on a split without clicks did not fail")
    } catch let error as PipelineError {
      #expect(
        error.message.hasSuffix(
          "check that the click column was loaded, or import a training split with both clicks "
            + "and non-clicks"))
    }
  }

  @Test func samplingEveryNonClickAwayIsRejected() throws {
    let connection = try connect()
    defer { connection.close() }
    let windows = try filter(connection)
    let statistics = try impressionStatistics(connection, windows.train)
    // At 1e-09 the click rate of the kept rows is below 1 as a Double but 1 as a Float.
    for rate in [1e-30, 1e-9] {
      var options = TrainOptions(dataset: "synthetic")
      options.modelName = "sampled_away"
      options.negativeRate = rate
      do {
        _ = try TrainingPipeline(connection: connection, logger: Self.logger).run(options)
        Issue.record("training on clicks alone did not fail")
      } catch let error as PipelineError {
        #expect(
          error.message
            == "negative downsampling at rate \(rate) kept none of the "
            + "\(statistics.rows - statistics.clicks) non-clicks of the training rows, so only "
            + "clicks are left to train on; raise --negative-rate")
      }
    }
    #expect(try ModelRegistry(connection: connection).champion(of: "sampled_away") == nil)
  }

  @Test func modelNameOfOtherLayoutIsRejected() throws {
    let connection = try connect()
    defer { connection.close() }
    // A data set named like the model, with one categorical field fewer.
    try connection.execute(
      """
      INSERT INTO adpilot.datasets (name, feature_spec, source)
      SELECT 'narrow', jsonb_set(feature_spec, '{categorical}',
                                 (feature_spec -> 'categorical') - 0), source
      FROM adpilot.datasets WHERE name = 'synthetic'
      """)
    var options = TrainOptions(dataset: "synthetic")
    options.modelName = "narrow"
    do {
      _ = try TrainingPipeline(connection: connection, logger: Self.logger).run(options)
      Issue.record("a model of another layout was trained under a data set's name")
    } catch let error as PipelineError {
      #expect(
        error.message
          == "model name 'narrow' is the name of another data set, whose feature spec differs "
          + "from data set 'synthetic's; its champion scores that data set's requests, so "
          + "choose another --model-name")
    }
    #expect(try ModelRegistry(connection: connection).champion(of: "narrow") == nil)
  }

  @Test func unloadableChampionIsReplaced() throws {
    let connection = try connect()
    defer { connection.close() }
    var options = TrainOptions(dataset: "synthetic")
    options.modelName = "corrupted"
    options.maxEpochs = 1
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    let first = try #require(try pipeline.run(options).champion)
    try connection.execute(
      "UPDATE adpilot.models SET weights = weights || '\\x00'::bytea WHERE id = $1",
      [.text(first.id)])

    // The same settings give the same models, so a new seed makes the second run's ids new.
    options.seed = 2
    let second = try pipeline.run(options)
    let secondChampion = try #require(second.champion)
    #expect(secondChampion.id != first.id)
    #expect(second.previousChampion == nil)
    let registry = ModelRegistry(connection: connection)
    #expect(try registry.alias("champion", of: "corrupted") == secondChampion.id)
    let reason = try #require(try registry.history(of: "corrupted").last?.reason)
    #expect(
      reason.hasPrefix(
        "replaces champion \(first.id), which cannot be loaded (model '\(first.id)': stored "
          + "checksum"),
      "\(reason)")
    #expect(reason == second.championReason)
    #expect(reason.contains("; first model: "))
  }

  @Test func missingValidationSplitFailsBeforeTraining() throws {
    let connection = try connect()
    defer { connection.close() }
    try connection.execute(
      """
      INSERT INTO adpilot.datasets (name, feature_spec, validation, source)
      SELECT 'train_only', feature_spec, 'split', source FROM adpilot.datasets
      WHERE name = 'synthetic'
      """)
    try connection.execute(
      """
      INSERT INTO adpilot.impressions
      SELECT (jsonb_populate_record(i, '{"dataset": "train_only", "split": "train"}')).*
      FROM adpilot.impressions i WHERE dataset = 'synthetic' AND time < '2026-01-08T00:00:00Z'
      """)
    // The check after training would report "no validation rows in" after an epoch.
    do {
      _ = try TrainingPipeline(connection: connection, logger: Self.logger).run(
        TrainOptions(dataset: "train_only"))
      Issue.record("training without validation rows did not fail")
    } catch let error as PipelineError {
      #expect(
        error.message
          == "data set 'train_only' has no validation rows (training rows: split 'train'; "
          + "validation rows: split 'test'); load them first, for a data set with splits its "
          + "'test' split (for example `adpilot import ipinyou FILE --split test`)")
    }
    // The same data with the other split name has no training rows instead.
    try connection.execute(
      "UPDATE adpilot.impressions SET split = 'test' WHERE dataset = 'train_only'")
    let missingTrain = #expect(throws: PipelineError.self) {
      try TrainingPipeline(connection: connection, logger: Self.logger).run(
        TrainOptions(dataset: "train_only"))
    }
    #expect(
      missingTrain?.message
        == "data set 'train_only' has no training rows (training rows: split 'train'; "
        + "validation rows: split 'test'); load its 'train' split first (for example `adpilot "
        + "import ipinyou FILE --split train`)")
  }

  @Test func validationDaysHoldOutTrailingDays() throws {
    let connection = try connect()
    defer { connection.close() }
    let dataset = try loadDataset(connection, name: "synthetic")
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    // The table contains 2026-01-05 to 2026-01-07, so two validation days start on 2026-01-06.
    let windows = try pipeline.trainingWindows(dataset, validationDays: 2)
    let counts = try connection.query(
      """
      SELECT count(*) FILTER (WHERE time < '2026-01-06T00:00:00Z'),
             count(*) FILTER (WHERE time >= '2026-01-06T00:00:00Z')
      FROM adpilot.impressions WHERE dataset = 'synthetic'
      """)[0]
    #expect(try impressionStatistics(connection, windows.train).rows == Int(counts.int64(0)))
    #expect(try impressionStatistics(connection, windows.validation).rows == Int(counts.int64(1)))
    #expect(
      windows.description
        == "training rows: before 2026-01-06T00:00:00.000Z; validation rows: the last 2 days, "
        + "from 2026-01-06T00:00:00.000Z")
    do {
      _ = try pipeline.trainingWindows(dataset, validationDays: 3)
      Issue.record("three validation days of a three-day log did not fail")
    } catch let error as PipelineError {
      #expect(
        error.message
          == "data set 'synthetic' has no rows before the last 3 days, from "
          + "2026-01-05T00:00:00.000Z, so nothing is left for training; generate or import "
          + "more days, or lower --validation-days")
    }
  }

  @Test func learningRateDecayChangesLaterEpochs() throws {
    let connection = try connect()
    defer { connection.close() }
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    func losses(decay: Float) throws -> [Double] {
      var options = TrainOptions(dataset: "synthetic")
      options.modelName = "decay"
      options.maxEpochs = 2
      options.patience = 2
      options.batchSize = 256
      options.learningRateDecay = decay
      let outcome = try pipeline.run(options)
      // The kept epoch is the one of lowest validation log loss, the earlier of equal ones.
      let lowest = try #require(outcome.epochLogLosses.min())
      let lowestIndex = try #require(outcome.epochLogLosses.firstIndex(of: lowest))
      #expect(outcome.bestEpoch.attention == lowestIndex + 1)
      return outcome.epochLogLosses
    }
    // The decay applies after each epoch, so the first epoch ends with the same weights either
    // way and the second does not.
    let fixed = try losses(decay: 1)
    let decayed = try losses(decay: 0.25)
    #expect(fixed.count == 2)
    #expect(decayed.count == 2)
    #expect(fixed.first == decayed.first)
    #expect(fixed.last != decayed.last)
    for decay: Float in [0, 1.5, -0.5] {
      var options = TrainOptions(dataset: "synthetic")
      options.learningRateDecay = decay
      do {
        _ = try pipeline.run(options)
        Issue.record("learning rate decay \(decay) did not fail")
      } catch let error as PipelineError {
        #expect(
          error.message
            == "learning rate decay must be in (0, 1], got \(decay); pass 0.5 to halve the step "
            + "size after each epoch, or 1 to keep it")
      }
    }
  }

  @Test func divergenceLimitFollowsClickRate() throws {
    var options = TrainOptions(dataset: "synthetic")
    options.learningRate = 0.002
    options.logisticLearningRate = 0.02
    // At a click rate of 0.5 the constant prediction loses ln 2 per row, so the limit is
    // 10 ln 2 = 6.931.
    try TrainingPipeline.checkDivergence(
      epoch: 1, meanLoss: (6.93, 6.93), baseRate: 0.5, options: options)
    do {
      try TrainingPipeline.checkDivergence(
        epoch: 3, meanLoss: (6.94, 0.7), baseRate: 0.5, options: options)
      Issue.record("a mean loss of 6.94 at click rate 0.5 did not fail")
    } catch let error as PipelineError {
      #expect(
        error.message
          == "training diverged: the attention model's mean training loss in epoch 3 is 6.94, "
          + "against 0.6931 for predicting the click rate on every row; nothing was registered. "
          + "Lower --learning-rate (it was 0.002)")
    }
    // At 1% ten times the constant loss is 0.56, so the floor of 1 applies.
    try TrainingPipeline.checkDivergence(
      epoch: 1, meanLoss: (0.99, 0.99), baseRate: 0.01, options: options)
    #expect(throws: PipelineError.self) {
      try TrainingPipeline.checkDivergence(
        epoch: 1, meanLoss: (0.1, 1.01), baseRate: 0.01, options: options)
    }
  }

  @Test func divergedTrainingRegistersNothing() throws {
    let connection = try connect()
    defer { connection.close() }
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    var options = TrainOptions(dataset: "synthetic")
    options.modelName = "diverged"
    options.maxEpochs = 1
    options.batchSize = 256
    options.learningRate = 100
    options.logisticLearningRate = 100
    do {
      _ = try pipeline.run(options)
      Issue.record("training at learning rate 100 did not fail")
    } catch let error as PipelineError {
      #expect(
        error.message.hasPrefix("training diverged: the attention model's mean training loss"))
      #expect(error.message.hasSuffix("Lower --learning-rate (it was 100.0)"))
    }
    let registered = try connection.query(
      "SELECT count(*) FROM adpilot.models WHERE name = 'diverged'")
    #expect(try registered[0].int64(0) == 0)
  }

  @Test func thresholdFiguresAreStoredAndCounted() throws {
    let connection = try connect()
    defer { connection.close() }
    let windows = try filter(connection)
    var options = TrainOptions(dataset: "synthetic")
    options.modelName = "threshold"
    options.maxEpochs = 1
    options.batchSize = 256
    let outcome = try TrainingPipeline(connection: connection, logger: Self.logger).run(options)
    let statistics = try impressionStatistics(connection, windows.train)
    #expect(outcome.threshold == Double(statistics.clicks) / Double(statistics.rows))

    let registry = ModelRegistry(connection: connection)
    for evaluation in [outcome.attention, outcome.logistic] {
      // Count the validation rows at or above the threshold by brute force.
      let model = try registry.load(id: evaluation.record.id)
      var batch = EncodedBatch(spec: model.spec, capacity: 3_000)
      let encoder = FeatureEncoder(spec: model.spec)
      try streamImpressions(connection, windows.validation) { row in
        encoder.append(cat: row.cat, num: row.num, seq: row.seq, label: row.label, to: &batch)
      }
      var truePositives = 0
      var predictedPositives = 0
      for (prediction, label) in zip(model.predict(batch), batch.labels)
      where Double(prediction) >= outcome.threshold {
        predictedPositives += 1
        if label > 0.5 { truePositives += 1 }
      }
      let positives = batch.labels.filter { $0 > 0.5 }.count
      #expect(predictedPositives > 0)
      #expect(positives > 0)
      let precision = Double(truePositives) / Double(predictedPositives)
      let recall = Double(truePositives) / Double(positives)
      let f1 = 2 * precision * recall / (precision + recall)

      let text = try #require(
        try connection.query(
          "SELECT metrics::text FROM adpilot.models WHERE id = $1", [.text(evaluation.record.id)]
        ).first
      ).string(0)
      let stored = try JSONDecoder().decode([String: Double].self, from: Data(text.utf8))
      let label = evaluation.record.kind
      #expect(stored["threshold"] == outcome.threshold, "\(label)")
      #expect(stored["predicted_clicks"] == Double(predictedPositives), "\(label)")
      #expect(abs((stored["precision"] ?? -1) - precision) < 1e-12, "\(label)")
      #expect(abs((stored["recall"] ?? -1) - recall) < 1e-12, "\(label)")
      #expect(abs((stored["f1"] ?? -1) - f1) < 1e-12, "\(label)")
      #expect(evaluation.report.classification?.predictedPositives == predictedPositives)
    }
  }

  @Test func warmStartRejectsOtherActivation() throws {
    let connection = try connect()
    defer { connection.close() }
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    var options = TrainOptions(dataset: "synthetic")
    options.modelName = "activation"
    options.maxEpochs = 1
    options.batchSize = 256
    let first = try pipeline.run(options)
    // The check concerns the attention model, so make it the champion.
    let id = first.attention.record.id
    try ModelRegistry(connection: connection).setAlias(
      "champion", of: "activation", to: id, reason: "test")
    var warm = options
    warm.warmStart = true
    warm.mlpActivation = .dice
    do {
      _ = try pipeline.run(warm)
      Issue.record("warm start with another activation did not fail")
    } catch let error as PipelineError {
      #expect(
        error.message
          == "warm start: champion '\(id)' has MLP activation 'relu', but this run asks for "
          + "'dice'; pass --activation relu or train without --warm-start to start fresh")
    }
  }

  @Test func warmStartCarriesDiceState() throws {
    let connection = try connect()
    defer { connection.close() }
    let pipeline = TrainingPipeline(connection: connection, logger: Self.logger)
    var options = TrainOptions(dataset: "synthetic")
    options.modelName = "dice"
    options.maxEpochs = 1
    options.batchSize = 256
    options.threads = 2
    options.mlpActivation = .dice
    let first = try pipeline.run(options)
    let registry = ModelRegistry(connection: connection)
    try registry.setAlias("champion", of: "dice", to: first.attention.record.id, reason: "test")
    let champion = try #require(try registry.load(id: first.attention.record.id) as? AttentionModel)
    #expect(champion.mlpActivation == .dice)
    let championUpdates = try #require(champion.diceStatistics).updates
    // One epoch of 256-row steps.
    #expect(championUpdates == UInt64((first.trainRows + 255) / 256))

    try connection.execute("INSERT INTO adpilot.impressions SELECT * FROM held_impressions")
    defer {
      _ = try? connection.execute(
        "DELETE FROM adpilot.impressions WHERE time >= '2026-01-08T00:00:00Z'")
    }
    var warm = options
    warm.warmStart = true
    warm.batchSize = 4_096
    let second = try pipeline.run(warm)
    #expect(second.warmStartedFrom?.id == first.attention.record.id)
    #expect(second.mlpActivation == .dice)
    // The new day fits in one step, which continues the champion's moving averages.
    let continued = try #require(
      try registry.load(id: second.attention.record.id) as? AttentionModel)
    #expect(continued.diceStatistics?.updates == championUpdates + 1)
  }
}
