// Tests of the prediction pass. Rows of one ad request share their history's keys and the request
// part of the final MLP's first layer, and that sharing must never change a row's score. The pass
// must also compute the same function as the training forward pass.

import Testing

@testable import CTR

private func model(_ spec: FeatureSpec, activation: MLPActivation = .relu) throws
  -> AttentionModel
{
  var config = Fixtures.smallConfig()
  config.mlpActivation = activation
  let model = try AttentionModel(spec: spec, config: config, seed: 5)
  for index in model.embeddings.indices { model.embeddings[index] *= 10 }
  for index in model.dense.indices { model.dense[index] += 0.01 }
  return model
}

/// Rows grouped as ad requests: each request keeps one row's request fields (user and context)
/// and history, and takes its candidates' ad fields from other rows.
private func requestRows(spec: FeatureSpec, requests: Int, candidates: Int, seed: UInt64)
  -> [Fixtures.RawRow]
{
  let base = Fixtures.rows(spec: spec, count: requests * (candidates + 1), seed: seed)
  var rows: [Fixtures.RawRow] = []
  for r in 0..<requests {
    let request = base[r * (candidates + 1)]
    for c in 1...candidates {
      var row = base[r * (candidates + 1) + c]
      for (index, field) in spec.categorical.enumerated() where field.role != .ad {
        row.cat[index] = request.cat[index]
      }
      for (index, field) in spec.numeric.enumerated() where field.role != .ad {
        row.num[index] = request.num[index]
      }
      row.seq = request.seq
      rows.append(row)
    }
  }
  return rows
}

@Test func requestRowsScoreAsEachRowAlone() throws {
  for spec in [Fixtures.sequenceSpec(), Fixtures.profileSpec(), Fixtures.plainSpec()] {
    for activation in [MLPActivation.relu, .dice] {
      let m = try model(spec, activation: activation)
      let rows = requestRows(spec: spec, requests: 6, candidates: 9, seed: 21)
      let batch = Fixtures.encode(rows, spec: spec)
      let together = m.predict(batch)
      let alone = (0..<batch.count).flatMap { m.predict(batch.slice($0..<($0 + 1))) }
      #expect(together.map(\.bitPattern) == alone.map(\.bitPattern), "\(activation)")
      // Rows of one request differ in their ads, so their scores do too (the plain spec has
      // no ad fields, so its request rows are all alike).
      let distinct = Set(together[0..<9]).count
      #expect(spec.categorical.contains { $0.role == .ad } ? distinct > 1 : distinct == 1)
    }
  }
}

@Test func predictionComputesTheForwardPass() throws {
  for spec in [Fixtures.sequenceSpec(), Fixtures.profileSpec(), Fixtures.plainSpec()] {
    for activation in [MLPActivation.relu, .dice] {
      let m = try model(spec, activation: activation)
      let batch = Fixtures.encode(
        requestRows(spec: spec, requests: 5, candidates: 4, seed: 22)
          + Fixtures.rows(spec: spec, count: 30, seed: 23), spec: spec)
      let logits = m.forward(batch).logits
      let predicted = m.predict(batch)
      #expect(predicted.count == logits.count)
      for (row, logit) in logits.enumerated() {
        let p = Probability.sigmoid(logit)
        // Only the order of the first layer's sums differs, a few Float32 roundings.
        #expect(abs(predicted[row] - p) <= 1e-5, "\(activation) row \(row)")
      }
      #expect(Set(predicted).count > 20)
    }
  }
}
