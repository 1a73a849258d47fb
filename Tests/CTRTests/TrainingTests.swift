// Tests of training: a learning task that needs behaviour-by-ad interaction, NaN handling,
// early stopping and the negative-downsampling correction. All data are seeded.

import Testing

@testable import CTR

/// Clicks depend on whether the ad's category is in the user's history, which a model without
/// feature interactions cannot express: P(click) = 0.6 on a match, else 0.02.
private func interactionData(count: Int, seed: UInt64) -> (EncodedBatch, FeatureSpec) {
  let spec = FeatureSpec(
    categorical: [
      CategoricalField(name: "user_id", role: .user, buckets: 64),
      CategoricalField(name: "ad_category", role: .ad, buckets: 64),
    ],
    sequence: [SequenceField(name: "hist_category", sharesEmbeddingWith: "ad_category")],
    maxSequenceLength: 4,
    embeddingDimension: 8)
  var random = SplitMix64(seed: seed)
  var rows: [Fixtures.RawRow] = []
  for _ in 0..<count {
    let history = (0..<4).map { _ in Int(random.next() % 30) }
    let category =
      random.next() % 2 == 0 ? history[Int(random.next() % 4)] : Int(random.next() % 30)
    let rate = history.contains(category) ? 0.6 : 0.02
    let click: Float = Double(random.next() >> 11) / Double(1 << 53) < rate ? 1 : 0
    rows.append(
      Fixtures.RawRow(
        cat: ["u\(random.next() % 500)", "c\(category)"], num: [],
        seq: history.map { "c\($0)" }, label: click))
  }
  return (Fixtures.encode(rows, spec: spec), spec)
}

private func train(_ model: any ClickModel, on data: EncodedBatch, config: TrainingConfig)
  throws -> Trainer
{
  let trainer = try Trainer(model: model, config: config)
  for _ in 0..<config.maxEpochs {
    var start = 0
    while start < data.count {
      let end = min(start + config.batchSize, data.count)
      _ = try trainer.trainStep(data.slice(start..<end))
      start = end
    }
  }
  return trainer
}

@Test func attentionLearnsInteractionBaselineCannot() throws {
  let (trainData, spec) = interactionData(count: 6000, seed: 1)
  let (testData, _) = interactionData(count: 3000, seed: 2)
  var config = TrainingConfig()
  config.batchSize = 64
  config.learningRate = 0.01
  config.attentionHidden = [16, 8]
  config.mlpHidden = [32, 16]
  config.maxEpochs = 6

  let attention = try AttentionModel(spec: spec, config: config, seed: 7)
  let logistic = try LogisticModel(spec: spec, config: config, seed: 7)
  _ = try train(attention, on: trainData, config: config)
  _ = try train(logistic, on: trainData, config: config)
  let attentionAUC = try #require(
    Metrics.auc(predictions: attention.predict(testData), labels: testData.labels))
  let logisticAUC = try #require(
    Metrics.auc(predictions: logistic.predict(testData), labels: testData.labels))
  // With 4 of 30 categories in a history, a match happens in about 56 % of rows; scoring matches
  // above non-matches perfectly gives AUC 0.81. An additive model stays near 0.5.
  #expect(attentionAUC > 0.7, "attention AUC \(attentionAUC) logistic \(logisticAUC)")
  #expect(attentionAUC > logisticAUC + 0.15, "attention \(attentionAUC) logistic \(logisticAUC)")
}

@Test func trainingLowersLossForEveryKind() throws {
  for spec in [Fixtures.sequenceSpec(), Fixtures.profileSpec(), Fixtures.plainSpec()] {
    var config = Fixtures.smallConfig()
    config.learningRate = 0.01
    let batch = Fixtures.batch(spec: spec, count: 32, seed: 4)
    for model in [
      try AttentionModel(spec: spec, config: config, seed: 1) as any ClickModel,
      try LogisticModel(spec: spec, config: config, seed: 1),
    ] {
      let trainer = try Trainer(model: model, config: config)
      let first = try trainer.trainStep(batch)
      for _ in 0..<60 { _ = try trainer.trainStep(batch) }
      let last = try trainer.loss(batch)
      #expect(last < Double(first) * 0.85, "\(model.kind): \(first) -> \(last)")
    }
  }
}

@Test func lossOfLargeBatchMatchesChunks() throws {
  let spec = Fixtures.sequenceSpec()
  let model = try AttentionModel(spec: spec, config: Fixtures.smallConfig(), seed: 2)
  let trainer = try Trainer(model: model, config: Fixtures.smallConfig())
  let batch = Fixtures.batch(spec: spec, count: 600, seed: 3)
  let expected = Metrics.logLoss(predictions: model.predict(batch), labels: batch.labels)
  #expect(abs(try trainer.loss(batch) - expected) < 1e-6)
}

@Test func logisticScoresIgnoreBatchSize() throws {
  let spec = Fixtures.sequenceSpec()
  let model = try LogisticModel(spec: spec, config: Fixtures.smallConfig(), seed: 1)
  let trainer = try Trainer(model: model, config: Fixtures.smallConfig())
  for step in 0..<5 {
    _ = try trainer.trainStep(Fixtures.batch(spec: spec, count: 20, seed: UInt64(step)))
  }
  let batch = Fixtures.batch(spec: spec, count: 50, seed: 77)
  let whole = model.predict(batch)
  var pieces: [Float] = []
  for start in stride(from: 0, to: 50, by: 7) {
    pieces += model.predict(batch.slice(start..<min(start + 7, 50)))
  }
  #expect(pieces == whole)
  #expect(Set(whole).count > 1)
}

@Test func nonFiniteLossRaisesAndKeepsWeights() throws {
  let spec = Fixtures.sequenceSpec()
  let model = try AttentionModel(spec: spec, config: Fixtures.smallConfig(), seed: 1)
  let trainer = try Trainer(model: model, config: Fixtures.smallConfig())
  let lastLayer = model.structure.mlp.layers[model.structure.mlp.layers.count - 1]
  #expect(model.weightsAreFinite)
  model.dense[lastLayer.biasOffset] = .nan
  #expect(model.weightsAreFinite == false)
  let embeddings = model.embeddings
  let batch = Fixtures.batch(spec: spec, count: 8, seed: 2)
  let error = #expect(throws: CTRError.self) { try trainer.trainStep(batch) }
  #expect(error?.kind == .nonFinite)
  // Optimized builds may produce a negative NaN, printed as "-nan".
  #expect(error?.message.hasPrefix("training loss is") == true)
  #expect(error?.message.contains("nan") == true)
  #expect(model.embeddings == embeddings)
  #expect(trainer.steps == 0)
}

@Test func mismatchedBatchIsRejected() throws {
  let model = try AttentionModel(
    spec: Fixtures.sequenceSpec(), config: Fixtures.smallConfig(), seed: 1)
  let trainer = try Trainer(model: model, config: Fixtures.smallConfig())
  let other = Fixtures.batch(spec: Fixtures.plainSpec(), count: 4, seed: 1)
  let error = #expect(throws: CTRError.self) { try trainer.trainStep(other) }
  #expect(error?.kind == .batchMismatch)
}

@Test func earlyStoppingRestoresBestWeights() throws {
  let spec = Fixtures.plainSpec()
  var config = Fixtures.smallConfig()
  config.patience = 2
  let model = try AttentionModel(spec: spec, config: config, seed: 1)
  let trainer = try Trainer(model: model, config: config)
  let batch = Fixtures.batch(spec: spec, count: 8, seed: 1)
  #expect(trainer.restoreBest() == false)

  #expect(trainer.recordValidation(loss: 0.5))
  _ = try trainer.trainStep(batch)
  #expect(trainer.recordValidation(loss: 0.4))
  let best = model.dense
  _ = try trainer.trainStep(batch)
  #expect(trainer.recordValidation(loss: 0.45) == false)
  #expect(trainer.shouldStop == false)
  _ = try trainer.trainStep(batch)
  #expect(trainer.recordValidation(loss: 0.4) == false)
  #expect(trainer.shouldStop)
  #expect(trainer.bestValidationLoss == 0.4)
  #expect(model.dense != best)
  #expect(trainer.restoreBest())
  #expect(model.dense == best)

  let other = try Trainer(
    model: try AttentionModel(spec: Fixtures.sequenceSpec(), config: config, seed: 1),
    config: config)
  #expect(throws: CTRError.self) { try trainer.restore(other.snapshot()) }
}

@Test func downsamplingCorrectsPredictions() throws {
  let spec = Fixtures.profileSpec()
  var config = Fixtures.smallConfig()
  config.negativeSampleRate = 0.25
  let model = try AttentionModel(spec: spec, config: config, seed: 1)
  let batch = Fixtures.batch(spec: spec, count: 5, seed: 3)
  let raw = model.predict(batch)
  _ = try Trainer(model: model, config: config)
  #expect(model.negativeSampleRate == 0.25)
  let corrected = model.predict(batch)
  for (p, q) in zip(raw, corrected) {
    #expect(q == p / (p + (1 - p) / 0.25))
    #expect(q < p)
  }
}

@Test func configValidationRejectsBadValues() {
  var config = TrainingConfig()
  config.learningRate = 0
  #expect(throws: CTRError.self) { try config.validate() }
  config = TrainingConfig()
  config.negativeSampleRate = 1.5
  #expect(throws: CTRError.self) { try config.validate() }
  config = TrainingConfig()
  config.mlpHidden = [0]
  #expect(throws: CTRError.self) { try config.validate() }
}

@Test func threadedStepsMatchSingleThread() throws {
  for spec in [Fixtures.sequenceSpec(), Fixtures.profileSpec()] {
    let batches = (0..<4).map { Fixtures.batch(spec: spec, count: 33, seed: UInt64(40 + $0)) }
    var single = Fixtures.smallConfig()
    single.learningRate = 0.01
    var double = single
    double.threads = 2
    var many = single
    many.threads = 40  // More threads than rows: every row still counts once.

    var losses: [[Float]] = []
    var weights: [[Float]] = []
    for config in [single, double, double, many] {
      let model = try AttentionModel(spec: spec, config: config, seed: 3)
      let trainer = try Trainer(model: model, config: config)
      losses.append(try batches.map { try trainer.trainStep($0) })
      weights.append(model.dense)
    }
    // The same thread count gives the same model bit for bit.
    #expect(losses[1] == losses[2])
    #expect(weights[1] == weights[2])
    // Other thread counts only round differently.
    for run in [1, 3] {
      for (a, b) in zip(losses[0], losses[run]) {
        #expect(abs(a - b) < 1e-4, "threads run \(run): \(a) vs \(b)")
      }
      let largest = zip(weights[0], weights[run]).map { abs($0 - $1) }.max() ?? 0
      #expect(largest < 1e-3, "threads run \(run): weights differ by \(largest)")
    }
  }
}

@Test func lazyAdamIgnoresThreadCount() {
  // 5000 touched rows, above the one-thread cut-off: each row's update is the same on one
  // thread and on several, bit for bit, and rows the gradient does not touch keep their values.
  let (tableRows, width) = (12_000, 4)
  var random = SplitMix64(seed: 21)
  let start = (0..<(tableRows * width)).map { _ in random.nextFloat(in: -1..<1) }
  var gradient = SparseGradient(tableRows: tableRows, width: width)
  for index in 0..<5000 {
    let values = (0..<width).map { _ in random.nextFloat(in: -1..<1) }
    values.withUnsafeBufferPointer {
      gradient.add(row: Int32(index * 7 % tableRows), $0.baseAddress!)
    }
  }
  #expect(gradient.rows.count == 5000)
  var tables: [[Float]] = []
  for threads in [1, 2, 3] {
    var optimizer = LazyAdam(count: start.count, width: width, learningRate: 0.01, l2: 1e-4)
    var table = start
    for _ in 0..<2 {
      optimizer.update(&table, gradient: gradient, threads: threads)
    }
    tables.append(table)
  }
  #expect(tables[0] == tables[1])
  #expect(tables[0] == tables[2])
  #expect(tables[0] != start)
  let untouched = 1  // 7 * index % 12000 is never 1 for index < 5000.
  #expect(tables[0][(untouched * width)..<(untouched * width + width)] == start[4..<8])
}

@Test func sparseMergeMatchesSequentialAdds() {
  // Three parts touch overlapping rows of a 20,000-row table, enough for several shares. The
  // merge must hold each row's `0 + w0 g0 + w1 g1 + w2 g2`, bit for bit what adding the parts
  // one after another gives, with the rows ascending whatever the thread count.
  let (tableRows, width) = (20_000, 5)
  var random = SplitMix64(seed: 31)
  var parts: [SparseGradient] = []
  for part in 0..<3 {
    var gradient = SparseGradient(tableRows: tableRows, width: width)
    for index in 0..<3000 {
      let row = Int32((index * (part + 3) * 7 + part) % tableRows)
      let values = (0..<width).map { _ in random.nextFloat(in: -1..<1) }
      values.withUnsafeBufferPointer { gradient.add(row: row, $0.baseAddress!) }
    }
    parts.append(gradient)
  }
  let weights: [Float] = [0.3, 0.5, 0.2]
  var sequential = SparseGradient(tableRows: tableRows, width: width)
  for (part, gradient) in parts.enumerated() {
    sequential.add(gradient, scale: weights[part])
  }
  let expected = Dictionary(
    uniqueKeysWithValues: sequential.rows.enumerated().map { slot, row in
      (row, Array(sequential.values[(slot * width)..<(slot * width + width)]))
    })
  for threads in [1, 2, 3] {
    var merged = SparseGradient(tableRows: tableRows, width: width)
    merged.add(row: 4, [Float](repeating: 9, count: width))  // cleared by the merge
    merged.merge(parts, weights: weights, threads: threads)
    #expect(merged.rows == sequential.rows.sorted(), "threads \(threads)")
    for (slot, row) in merged.rows.enumerated() {
      let values = Array(merged.values[(slot * width)..<(slot * width + width)])
      #expect(values == expected[row], "threads \(threads), row \(row)")
    }
    // Each row's slot is known to later adds.
    let probe = merged.rows[merged.rows.count / 2]
    merged.add(row: probe, [Float](repeating: 0, count: width))
    #expect(merged.rows.count == sequential.rows.count)
  }
}

@Test func lazyAdamMatchesPlainFormula() {
  // Width 12 runs one 8-wide vector step and a 4-element scalar tail per row. Both must match
  // the textbook update bit for bit. Rows skip steps, and a row's L2 term counts the steps since
  // its last update. At step 3, row 2 counts two steps and row 9, first touched then, three.
  let (tableRows, width) = (10, 12)
  let (rate, l2, beta1, beta2, epsilon): (Float, Float, Float, Float, Float) = (
    0.01, 1e-3, 0.9, 0.999, 1e-8
  )
  var random = SplitMix64(seed: 25)
  let start = (0..<(tableRows * width)).map { _ in random.nextFloat(in: -1..<1) }
  let touched: [[Int32]] = [[7, 2, 5], [7, 5], [9, 7, 2]]
  let gaps: [[Int32: Float]] = [[7: 1, 2: 1, 5: 1], [7: 1, 5: 1], [9: 3, 7: 1, 2: 2]]
  var optimizer = LazyAdam(count: start.count, width: width, learningRate: rate, l2: l2)
  var table = start
  var expected = start
  var m = [Float](repeating: 0, count: start.count)
  var v = [Float](repeating: 0, count: start.count)
  for step in 1...3 {
    var gradient = SparseGradient(tableRows: tableRows, width: width)
    for row in touched[step - 1] {
      let values = (0..<width).map { _ in random.nextFloat(in: -1..<1) }
      values.withUnsafeBufferPointer { gradient.add(row: row, $0.baseAddress!) }
    }
    optimizer.update(&table, gradient: gradient)
    let correction1 = 1 - Adam.power(beta1, step)
    let correction2 = 1 - Adam.power(beta2, step)
    let stepRate = rate * correction2.squareRoot() / correction1
    for (slot, row) in gradient.rows.enumerated() {
      let rowL2 = l2 * gaps[step - 1][row]!
      for j in 0..<width {
        let i = Int(row) * width + j
        let value = gradient.values[slot * width + j] + rowL2 * expected[i]
        m[i] = beta1 * m[i] + (1 - beta1) * value
        v[i] = beta2 * v[i] + (1 - beta2) * value * value
        expected[i] -= stepRate * m[i] / (v[i].squareRoot() + epsilon)
      }
    }
    #expect(table == expected, "step \(step)")
  }
  #expect(table != start)
  #expect(table[0..<width] == start[0..<width], "row 0 was not touched")
}

@Test func lazyAdamCatchesUpOnSkippedL2() {
  // Row 1 is first updated at step 4, so its gradient carries four L2 terms: -0.06 + 4 * 0.05 *
  // 0.5 = 0.04, and the weight moves down. With one term (-0.035) it would move up.
  let (rate, l2): (Float, Float) = (0.01, 0.05)
  var idle = SparseGradient(tableRows: 2, width: 1)
  idle.add(row: 0, 0)
  var touched = SparseGradient(tableRows: 2, width: 1)
  touched.add(row: 1, -0.06)
  var optimizer = LazyAdam(count: 2, width: 1, learningRate: rate, l2: l2)
  var table: [Float] = [0.5, 0.5]
  for _ in 0..<3 { optimizer.update(&table, gradient: idle) }
  #expect(table[1] == 0.5)
  optimizer.update(&table, gradient: touched)
  let g: Float = -0.06 + 4 * l2 * 0.5
  let correction1 = 1 - Adam.power(0.9, 4)
  let correction2 = 1 - Adam.power(0.999, 4)
  let expected =
    0.5 - rate * correction2.squareRoot() / correction1 * ((1 - 0.9) * g)
    / (((1 - 0.999) * g * g).squareRoot() + 1e-8)
  #expect(table[1] == expected)
  #expect(table[1] < 0.5)
}

@Test func baseRateSetsStartingBias() throws {
  var config = Fixtures.smallConfig()
  config.baseRate = 0.04
  let logit = Probability.logit(0.04)
  #expect(abs(logit - (-3.1780538)) < 1e-5)
  for spec in [Fixtures.sequenceSpec(), Fixtures.profileSpec(), Fixtures.plainSpec()] {
    let logistic = try LogisticModel(spec: spec, config: config, seed: 1)
    #expect(logistic.dense == [logit])
    // A fresh logistic model predicts the base rate for every row.
    let batch = Fixtures.batch(spec: spec, count: 5, seed: 2)
    for p in logistic.predict(batch) {
      #expect(abs(p - 0.04) < 1e-6)
    }
    let attention = try AttentionModel(spec: spec, config: config, seed: 1)
    let output = attention.structure.mlp.layers[attention.structure.mlp.layers.count - 1]
    #expect(attention.dense[output.biasOffset] == logit)
  }
}

@Test func logisticTakesItsOwnLearningRate() throws {
  let spec = Fixtures.plainSpec()
  let batch = Fixtures.batch(spec: spec, count: 16, seed: 3)
  var config = Fixtures.smallConfig()
  config.learningRate = 0.001
  config.logisticLearningRate = 0.05
  let model = try LogisticModel(spec: spec, config: config, seed: 1)
  let trainer = try Trainer(model: model, config: config)
  _ = try trainer.trainStep(batch)
  // Adam's first step moves every weight with a nonzero gradient by the step size.
  #expect(abs(abs(model.dense[0]) - 0.05) < 1e-4)
}

@Test func loweredLearningRateScalesLaterSteps() throws {
  let spec = Fixtures.plainSpec()
  let batch = Fixtures.batch(spec: spec, count: 16, seed: 3)
  var config = Fixtures.smallConfig()
  config.logisticLearningRate = 0.05
  let models = try (0..<2).map { _ in try LogisticModel(spec: spec, config: config, seed: 1) }
  let trainers = try models.map { try Trainer(model: $0, config: config) }
  #expect(trainers[0].learningRate == 0.05)
  for trainer in trainers { _ = try trainer.trainStep(batch) }
  let dense = models[0].dense
  let embeddings = models[0].embeddings
  #expect(models[1].dense == dense)
  #expect(models[1].embeddings == embeddings)
  // From the same state, a second step at 0.01 moves every weight half as far as one at 0.02,
  // dense weights and embedding rows alike.
  trainers[0].learningRate = 0.01
  trainers[1].learningRate = 0.02
  for trainer in trainers { _ = try trainer.trainStep(batch) }
  for (now, before) in [(\LogisticModel.dense, dense), (\LogisticModel.embeddings, embeddings)] {
    let small = zip(models[0][keyPath: now], before).map { $0 - $1 }
    let large = zip(models[1][keyPath: now], before).map { $0 - $1 }
    #expect(small.contains { $0 != 0 })
    #expect(zip(small, large).allSatisfy { abs(2 * $0 - $1) <= 1e-6 })
  }
}

@Test func baseRateOutsideUnitIntervalIsRejected() {
  for rate: Float in [0, 1, -0.5, .nan] {
    var config = TrainingConfig()
    config.baseRate = rate
    #expect(throws: CTRError.self) { try config.validate() }
  }
}
