// Tests of the attention model's behaviour: kind selection, padding invariance, batch-size
// independence, unseen values and seeded determinism. Bitwise equality is meant where it is used.

import Testing

@testable import CTR

private func model(_ spec: FeatureSpec, seed: UInt64 = 3) throws -> AttentionModel {
  let model = try AttentionModel(spec: spec, config: Fixtures.smallConfig(), seed: seed)
  // Wider embeddings than the initialization make the attention weights differ between keys.
  for index in model.embeddings.indices { model.embeddings[index] *= 10 }
  return model
}

@Test func kindFollowsSpecRoles() throws {
  #expect(try model(Fixtures.sequenceSpec()).kind == .attention)
  #expect(try model(Fixtures.sequenceSpec()).structure.mode == .sequence)
  #expect(try model(Fixtures.profileSpec()).structure.mode == .profile)
  #expect(try model(Fixtures.plainSpec()).kind == .dnn)
  // Ad fields without user fields or sequences leave nothing to attend over.
  var adOnly = Fixtures.plainSpec()
  adOnly.categorical[0].role = .ad
  #expect(try model(adOnly).kind == .dnn)
}

@Test func structureShapesFollowSpec() throws {
  let sequence = try model(Fixtures.sequenceSpec(dimension: 4)).structure
  // Query: ad_category and ad_shop, 2 x 4. Unit input 4Q = 32. MLP input Q + 5 fields x 4.
  #expect(sequence.queryWidth == 8)
  #expect(sequence.attention?.first.inputs == 32)
  #expect(sequence.mlp.inputs == 8 + 20)
  let profile = try model(Fixtures.profileSpec(dimension: 4)).structure
  // Query: ad_id only; keys: gender, age, user_clicks, each projected 4 -> 4.
  #expect(profile.queryFields == [2])
  #expect(profile.userFields == [0, 1, 4])
  #expect(profile.projections.map(\.outputs) == [4, 4, 4])
  #expect(try model(Fixtures.plainSpec()).structure.mlp.inputs == 12)
}

@Test func multiplyAddsFollowTheShapes() throws {
  // Sequence mode, Q = 8, unit 32 -> 6 -> 5 -> 1, MLP 28 -> 7 -> 5 -> 1, 3 keys:
  // MLP 196 + 35 + 5, folding 2 x 8 x 6, each key 8 x 6 + 6 x 5 + 5 x 1.
  let sequence = try model(Fixtures.sequenceSpec(dimension: 4))
  #expect(sequence.forwardMultiplyAdds(keys: 3) == 236 + 96 + 3 * (48 + 35))
  #expect(sequence.forwardMultiplyAdds(keys: 0) == 236 + 96)
  #expect(sequence.trainingMultiplyAdds(keys: 3) == 3 * 581)
  // Profile mode, Q = 4, keys are the 3 user fields whatever the value of `keys`, each projected 4 -> 4.
  // MLP 24 x 7 + 35 + 5, projections 3 x 16, folding 2 x 4 x 6, each key 4 x 6 + 35.
  let profile = try model(Fixtures.profileSpec(dimension: 4))
  #expect(profile.forwardMultiplyAdds(keys: 50) == 208 + 48 + 48 + 3 * (24 + 35))
  // A plain DNN is its MLP: 12 x 7 + 7 x 5 + 5 x 1.
  #expect(try model(Fixtures.plainSpec()).forwardMultiplyAdds(keys: 9) == 124)
}

@Test func paddingNeverChangesScores() throws {
  let spec = Fixtures.sequenceSpec(maxLength: 6)
  let m = try model(spec)
  let encoder = FeatureEncoder(spec: spec)
  let cat: [String?] = ["u1", "v3", "v4", "h2"]
  let histories: [[String?]] = [
    ["v1", "v2", "v3", "v9"],
    ["v1", "v2", nil, nil, "v3", "v9", "", nil],
    [nil, nil, "v1", "v2", "v3", "v9", nil, nil, nil, nil],
  ]
  var batch = EncodedBatch(spec: spec, capacity: 3)
  for history in histories {
    encoder.append(cat: cat, num: [2.5], seq: history, label: 0, to: &batch)
  }
  let scores = m.predict(batch)
  #expect(batch.sequenceLengths == [2, 2, 2])
  #expect(scores[0] == scores[1])
  #expect(scores[0] == scores[2])

  // Whatever sits in the padding slots is never read.
  var scribbled = batch
  for slot in 0..<scribbled.sequenceRows.count where slot % 12 >= 4 {
    scribbled.sequenceRows[slot] = Int32(30 + slot % 9)
  }
  #expect(m.predict(scribbled) == scores)

  // A longer history does change the score, so the comparison above is not vacuous.
  var longer = EncodedBatch(spec: spec, capacity: 1)
  encoder.append(
    cat: cat, num: [2.5], seq: ["v1", "v2", "v3", "v9", "v5", "v6"], label: 0,
    to: &longer)
  #expect(m.predict(longer)[0] != scores[0])
}

@Test func longerPaddingScoresIdentically() throws {
  let spec = Fixtures.sequenceSpec(maxLength: 6)
  let m = try model(spec)
  var longSpec = spec
  longSpec.maxSequenceLength = 40
  let rows = Fixtures.rows(spec: spec, count: 20, seed: 9)
  let short = Fixtures.encode(rows, spec: spec)
  let long = Fixtures.encode(rows, spec: longSpec)
  #expect(long.maxSequenceLength == 40)
  #expect(long.sequenceLengths == short.sequenceLengths)
  #expect(m.predict(long) == m.predict(short))
}

@Test func batchOfOtherSpecFailsCheck() throws {
  let m = try model(Fixtures.sequenceSpec())
  var other = Fixtures.sequenceSpec()
  other.categorical[1].buckets += 1
  let error = #expect(throws: CTRError.self) {
    try m.check(EncodedBatch(spec: other, capacity: 0))
  }
  #expect(error?.kind == .batchMismatch)
  #expect(throws: Never.self) { try m.check(EncodedBatch(spec: m.spec, capacity: 0)) }
}

@Test func predictionsIgnoreBatchSize() throws {
  for spec in [Fixtures.sequenceSpec(), Fixtures.profileSpec(), Fixtures.plainSpec()] {
    let m = try model(spec)
    let batch = Fixtures.batch(spec: spec, count: 300, seed: 8)
    let whole = m.predict(batch)
    var pieces: [Float] = []
    var start = 0
    for size in [1, 2, 3, 5, 7, 13, 64, 205] {
      pieces += m.predict(batch.slice(start..<(start + size)))
      start += size
    }
    #expect(start == 300)
    #expect(pieces == whole)
    for row in [0, 17, 299] {
      #expect(m.predict(batch.slice(row..<(row + 1)))[0] == whole[row])
    }
  }
}

@Test func threadedPredictionMatchesOneThread() throws {
  for spec in [Fixtures.sequenceSpec(), Fixtures.profileSpec(), Fixtures.plainSpec()] {
    let m = try model(spec)
    let batch = Fixtures.batch(spec: spec, count: 301, seed: 9)
    let whole = m.predict(batch)
    #expect(whole.count == 301)
    for threads in [1, 2, 3, 8] {
      #expect(m.predict(batch, threads: threads) == whole, "\(threads) threads")
    }
    let two = batch.slice(0..<2)
    #expect(m.predict(two, threads: 4) == m.predict(two), "more threads than rows")
    #expect(m.predict(batch.slice(0..<0), threads: 2).isEmpty)
  }
}

@Test func unseenValuesScore() throws {
  let spec = Fixtures.sequenceSpec()
  let m = try model(spec)
  var batch = EncodedBatch(spec: spec, capacity: 2)
  let encoder = FeatureEncoder(spec: spec)
  encoder.append(
    cat: ["never-seen-user", "new-category", "new-shop", "25"], num: [1e12],
    seq: ["unknown", "unknown-shop"], label: 0, to: &batch)
  encoder.append(cat: [nil, nil, nil, nil], num: [nil], seq: [], label: 0, to: &batch)
  let scores = m.predict(batch)
  #expect(scores.count == 2)
  #expect(scores.allSatisfy { $0 > 0 })
  #expect(scores.allSatisfy { $0 < 1 })
}

@Test func sameSeedGivesSameModel() throws {
  for spec in [Fixtures.sequenceSpec(), Fixtures.profileSpec(), Fixtures.plainSpec()] {
    let first = try AttentionModel(spec: spec, config: Fixtures.smallConfig(), seed: 21)
    let second = try AttentionModel(spec: spec, config: Fixtures.smallConfig(), seed: 21)
    let other = try AttentionModel(spec: spec, config: Fixtures.smallConfig(), seed: 22)
    #expect(first.embeddings == second.embeddings)
    #expect(first.dense == second.dense)
    #expect(first.dense != other.dense)

    let firstTrainer = try Trainer(model: first, config: Fixtures.smallConfig())
    let secondTrainer = try Trainer(model: second, config: Fixtures.smallConfig())
    for step in 0..<3 {
      let batch = Fixtures.batch(spec: spec, count: 16, seed: UInt64(step))
      #expect(try firstTrainer.trainStep(batch) == secondTrainer.trainStep(batch))
    }
    #expect(first.serialized() == second.serialized())
  }
}

@Test func emptyBatchPredictsNothing() throws {
  let spec = Fixtures.sequenceSpec()
  let m = try model(spec)
  #expect(m.predict(EncodedBatch(spec: spec, capacity: 0)).isEmpty)
  let trainer = try Trainer(model: m, config: Fixtures.smallConfig())
  let before = m.dense
  #expect(try trainer.trainStep(EncodedBatch(spec: spec, capacity: 0)) == 0)
  #expect(m.dense == before)
}
