// Tests of how trained models treat values that training never saw: such a value must score
// exactly like a missing one, in every model kind, after a file round trip too.

import Testing

@testable import CTR

/// Rows whose categorical values are `v0` or `v1`, with no missing values, so every field keeps
/// hashed rows, and row 0, that no step updates.
private func seenOnlyRows(spec: FeatureSpec, count: Int, seed: UInt64) -> EncodedBatch {
  var random = SplitMix64(seed: seed)
  let rows = (0..<count).map { _ in
    let cat: [String?] = spec.categorical.map { _ in "v\(random.next() % 2)" }
    let num: [Double?] = spec.numeric.map { _ in Double(random.next() % 4) }
    var seq: [String?] = []
    for _ in 0..<(spec.sequence.isEmpty ? 0 : 3 * spec.sequence.count) {
      seq.append("v\(random.next() % 2)")
    }
    return Fixtures.RawRow(cat: cat, num: num, seq: seq, label: Float(random.next() % 2))
  }
  return Fixtures.encode(rows, spec: spec)
}

private func trained(_ model: any ClickModel, spec: FeatureSpec) throws -> any ClickModel {
  var config = Fixtures.smallConfig()
  config.learningRate = 0.01
  let trainer = try Trainer(model: model, config: config)
  for step in 0..<4 {
    _ = try trainer.trainStep(seenOnlyRows(spec: spec, count: 32, seed: UInt64(step)))
  }
  return model
}

private func models(_ spec: FeatureSpec) throws -> [any ClickModel] {
  let config = Fixtures.smallConfig()
  return [
    try trained(AttentionModel(spec: spec, config: config, seed: 4), spec: spec),
    try trained(LogisticModel(spec: spec, config: config, seed: 4), spec: spec),
  ]
}

/// Returns a value of categorical field `field` whose row training never updated. Table sizes
/// are small, so most new strings land in a bucket that a training value shares.
private func unseenValue(_ model: any ClickModel, field: Int) throws -> String {
  let trainedRows =
    try #require((model as? AttentionModel)?.trainedRows ?? (model as? LogisticModel)?.trainedRows)
  let encoder = FeatureEncoder(spec: model.spec)
  for index in 0..<1000 {
    let value = "new-\(index)"
    if !trainedRows.contains(encoder.categoricalRow(field: field, value: value)) { return value }
  }
  Issue.record("every bucket of field \(field) was trained")
  return ""
}

private let specs = [Fixtures.sequenceSpec(), Fixtures.profileSpec(), Fixtures.plainSpec()]

@Test func unseenIdScoresLikeMissing() throws {
  for spec in specs {
    for model in try models(spec) {
      let encoder = FeatureEncoder(spec: spec)
      let seen: [String?] = spec.categorical.map { _ in "v1" }
      var batch = EncodedBatch(spec: spec, capacity: 4)
      for field in spec.categorical.indices {
        var unseen = seen
        unseen[field] = try unseenValue(model, field: field)
        var missing = seen
        missing[field] = nil
        for cat in [unseen, missing] {
          encoder.append(cat: cat, num: [1], seq: ["v1", "v0"], label: 0, to: &batch)
        }
      }
      let scores = model.predict(batch)
      for field in spec.categorical.indices {
        #expect(
          scores[2 * field] == scores[2 * field + 1],
          "\(model.kind) field \(spec.categorical[field].name)")
      }
    }
  }
}

@Test func unseenItemScoresLikeMissingSubfield() throws {
  let spec = Fixtures.sequenceSpec()
  for model in try models(spec) {
    let encoder = FeatureEncoder(spec: spec)
    let cat: [String?] = ["v1", "v0", "v1", "v0"]
    var batch = EncodedBatch(spec: spec, capacity: 2)
    let unseen = try unseenValue(model, field: 1)
    encoder.append(cat: cat, num: [1], seq: ["v1", "v0", unseen, "v1"], label: 0, to: &batch)
    encoder.append(cat: cat, num: [1], seq: ["v1", "v0", nil, "v1"], label: 0, to: &batch)
    let scores = model.predict(batch)
    #expect(scores[0] == scores[1], "\(model.kind)")
  }
}

@Test func seenValuesStillDiffer() throws {
  // The remapping leaves trained rows alone: two seen values score apart.
  for spec in specs {
    for model in try models(spec) {
      let encoder = FeatureEncoder(spec: spec)
      var batch = EncodedBatch(spec: spec, capacity: 2)
      for value in ["v0", "v1"] {
        let cat: [String?] = spec.categorical.map { _ in value }
        encoder.append(cat: cat, num: [1], seq: ["v1", "v0"], label: 0, to: &batch)
      }
      let scores = model.predict(batch)
      #expect(scores[0] != scores[1], "\(model.kind)")
    }
  }
}

@Test func unseenRemappingKeepsBatchIndependence() throws {
  for spec in specs {
    for model in try models(spec) {
      let batch = Fixtures.batch(spec: spec, count: 300, seed: 8)
      let whole = model.predict(batch)
      var pieces: [Float] = []
      var start = 0
      for size in [1, 2, 3, 5, 7, 13, 64, 205] {
        pieces += model.predict(batch.slice(start..<(start + size)))
        start += size
      }
      #expect(pieces == whole, "\(model.kind)")
    }
  }
}

@Test func trainedRowsSurviveFileRoundTrip() throws {
  for spec in specs {
    for model in try models(spec) {
      let loaded = try loadModel(model.serialized())
      var batch = EncodedBatch(spec: spec, capacity: 1)
      let cat = try spec.categorical.indices.map { try unseenValue(model, field: $0) }
      FeatureEncoder(spec: spec).append(
        cat: cat, num: [1], seq: cat, label: 0, to: &batch)
      #expect(loaded.predict(batch) == model.predict(batch), "\(model.kind)")
    }
  }
}

@Test func missingSlotsStartAtZero() throws {
  let spec = Fixtures.sequenceSpec(dimension: 4)
  let model = try AttentionModel(spec: spec, config: Fixtures.smallConfig(), seed: 7)
  for offset in model.layout.offsets {
    #expect(model.embeddings[(offset * 4)..<(offset * 4 + 4)].allSatisfy { $0 == 0 })
    #expect(model.embeddings[((offset + 1) * 4)..<((offset + 1) * 4 + 4)].contains { $0 != 0 })
  }
}

@Test func trainerMarksTouchedRowsOnly() throws {
  let spec = Fixtures.plainSpec()
  let model = try AttentionModel(spec: spec, config: Fixtures.smallConfig(), seed: 7)
  #expect(model.trainedRows == nil)
  let batch = seenOnlyRows(spec: spec, count: 16, seed: 1)
  let trainer = try Trainer(model: model, config: Fixtures.smallConfig())
  _ = try trainer.trainStep(batch)
  let trainedRows = try #require(model.trainedRows)
  let used = Set(batch.fieldRows.map(Int.init))
  #expect(trainedRows.trainedCount == used.count)
  for row in 0..<model.layout.totalRows {
    #expect(trainedRows.contains(row) == used.contains(row), "row \(row)")
  }
}
